/** /repositories/<name> and /repositories/<name>/-/manifests/<reference>: names contain '/'. */
import { useParams } from 'react-router';
import { ImagePage } from './image.tsx';
import { RepositoryPage } from './repository.tsx';

export function RepositoryRoute() {
  const rest = useParams()['*'] ?? '';
  const [name = '', after] = rest.split('/-/', 2);
  const cleanName = name.replace(/\/+$/, '');
  const reference = after?.startsWith('manifests/') ? after.slice('manifests/'.length) : null;
  return reference ? <ImagePage key={`${cleanName}@${reference}`} name={cleanName} reference={reference} /> : <RepositoryPage key={cleanName} name={cleanName} />;
}

/** /repositories/<name> and /repositories/<name>/-/manifests/<reference>: names contain '/'. */
import { useParams } from 'react-router';
import { ImagePage } from './image.tsx';
import { ImageArtifactsPage, ImageFilesPage } from './image-inside.tsx';
import { RepositoryPage } from './repository.tsx';

export function RepositoryRoute() {
  const rest = useParams()['*'] ?? '';
  const [name = '', after] = rest.split('/-/', 2);
  const cleanName = name.replace(/\/+$/, '');
  const [reference = null, sub] = after?.startsWith('manifests/') ? after.slice('manifests/'.length).split('/', 2) : [];
  if (reference && sub === 'files') return <ImageFilesPage key={`${cleanName}@${reference}`} name={cleanName} reference={reference} />;
  if (reference && sub === 'artifacts') return <ImageArtifactsPage key={`${cleanName}@${reference}`} name={cleanName} reference={reference} />;
  return reference ? <ImagePage key={`${cleanName}@${reference}`} name={cleanName} reference={reference} /> : <RepositoryPage key={cleanName} name={cleanName} />;
}

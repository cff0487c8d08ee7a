import { Compass } from 'lucide-react';
import { Link } from 'react-router';
import { EmptyState } from '../components/states.tsx';

export function NotFoundPage() {
  return (
    <>
      <title>Not found · Berth</title>
      <EmptyState icon={<Compass size={26} />} title="This page does not exist">
        <p>
          The address may be mistyped, or what it showed was deleted. <Link to="/">Back to repositories</Link>
        </p>
      </EmptyState>
    </>
  );
}

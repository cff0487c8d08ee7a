/** The web UI's entry: routes, and the providers every page shares. */
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { createBrowserRouter, RouterProvider } from 'react-router';
import { Layout } from './components/layout.tsx';
import { SignInGate } from './components/sign-in.tsx';
import { ToastProvider } from './components/toast.tsx';
import { ActivityPage } from './pages/activity.tsx';
import { DiskUsagePage } from './pages/disk-usage.tsx';
import { MirrorsPage } from './pages/mirrors.tsx';
import { NotFoundPage } from './pages/not-found.tsx';
import { RepositoriesPage } from './pages/repositories.tsx';
import { RepositoryRoute } from './pages/repository-route.tsx';
import { ImageDiffPage } from './pages/image-inside.tsx';
import { RetentionPage } from './pages/retention.tsx';
import { SettingsPage } from './pages/settings.tsx';
import { SetupPage } from './pages/setup.tsx';
import { UsersPage } from './pages/users.tsx';
import { WebhooksPage } from './pages/webhooks.tsx';
import { StatusProvider } from './status.tsx';
import './styles.css';

const router = createBrowserRouter([
  {
    path: '/',
    element: <Layout />,
    children: [
      { index: true, element: <RepositoriesPage /> },
      // Names contain '/': the rest of the path is parsed by the route (see repository-route.tsx).
      { path: 'repositories/*', element: <RepositoryRoute /> },
      { path: 'diff', element: <ImageDiffPage /> },
      { path: 'activity', element: <ActivityPage /> },
      { path: 'disk-usage', element: <DiskUsagePage /> },
      { path: 'retention', element: <RetentionPage /> },
      { path: 'mirrors', element: <MirrorsPage /> },
      { path: 'webhooks', element: <WebhooksPage /> },
      { path: 'setup', element: <SetupPage /> },
      { path: 'users', element: <UsersPage /> },
      { path: 'settings', element: <SettingsPage /> },
      { path: '*', element: <NotFoundPage /> },
    ],
  },
]);

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <ToastProvider>
      <SignInGate>
        <StatusProvider>
          <RouterProvider router={router} />
        </StatusProvider>
      </SignInGate>
    </ToastProvider>
  </StrictMode>,
);

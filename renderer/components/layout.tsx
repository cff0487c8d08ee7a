/** The frame of every page: navigation, the registry's address, and whether live updates flow. */
import { useEffect, useState } from 'react';
import { NavLink, Outlet, Link } from 'react-router';
import { Activity, Anchor, Boxes, CalendarClock, CloudDownload, HardDrive, Settings, Users, Webhook, Wrench } from 'lucide-react';
import { currentUser, signOut, watchConnection, type ConnectionState } from '../api.ts';
import { useStatus } from '../status.tsx';
import { CopyButton } from './copy.tsx';
import { StorageAlert } from './storage-alert.tsx';

const NAV = [
  { to: '/', label: 'Repositories', icon: Boxes, end: true },
  { to: '/activity', label: 'Activity', icon: Activity, end: false },
  { to: '/disk-usage', label: 'Disk usage', icon: HardDrive, end: false },
  { to: '/retention', label: 'Retention', icon: CalendarClock, end: false },
  { to: '/mirrors', label: 'Mirrors', icon: CloudDownload, end: false },
  { to: '/webhooks', label: 'Webhooks', icon: Webhook, end: false },
  { to: '/setup', label: 'Docker setup', icon: Wrench, end: false },
  { to: '/users', label: 'Users & tokens', icon: Users, end: false },
  { to: '/settings', label: 'Settings', icon: Settings, end: false },
];

const CONNECTION_TEXT: Record<ConnectionState, string> = {
  connecting: 'Connecting…',
  open: 'Live',
  lost: 'Reconnecting…',
};

function LiveIndicator() {
  const [state, setState] = useState<ConnectionState>('connecting');
  useEffect(() => watchConnection(setState), []);
  return (
    <span className="live" title={state === 'open' ? 'Pushes and deletes show up as they happen' : 'Live updates are paused'}>
      <span className={`dot ${state}`} aria-hidden />
      {CONNECTION_TEXT[state]}
    </span>
  );
}

export function Layout() {
  const status = useStatus();
  const address = status.data?.addresses.localhost;
  return (
    <div className="app">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <aside className="sidebar">
        <Link to="/" className="brand" aria-label="Berth, home">
          <span className="brand-mark" aria-hidden>
            <Anchor size={18} />
          </span>
          Berth
        </Link>
        <nav className="nav" aria-label="Main">
          {NAV.map(({ to, label, icon: Icon, end }) => (
            <NavLink key={to} to={to} end={end}>
              <Icon size={17} aria-hidden />
              {label}
            </NavLink>
          ))}
        </nav>
        <div className="sidebar-footer">
          <LiveIndicator />
          {address ? (
            <span className="mono" style={{ display: 'flex', alignItems: 'center', gap: 2 }}>
              {address}
              <CopyButton text={address} label="Copy registry address" />
            </span>
          ) : (
            <span className="faint">{status.error ? 'Registry not reachable' : 'Loading…'}</span>
          )}
          {status.data && <span className="faint">Berth {status.data.version}</span>}
          {currentUser() && (
            <span className="actions" style={{ gap: 6 }}>
              <span className="faint">Signed in as {currentUser()}</span>
              <button type="button" className="small" onClick={() => void signOut()}>
                Sign out
              </button>
            </span>
          )}
        </div>
      </aside>
      <main className="main" id="main" tabIndex={-1}>
        <StorageAlert />
        <Outlet />
      </main>
    </div>
  );
}

/**
 * The routes and the page frame: a header with the gateway's name, the navigation and
 * the signed-in user; every page but the sign-in needs a session.
 */
import type { ReactNode } from 'react';
import { Link, NavLink, Navigate, Outlet, Route, Routes, useLocation, useNavigate } from 'react-router';
import { useSession, useMe } from './auth';
import { PageHeading } from './components/page-heading';
import { CloneExperimentPage } from './pages/clone-experiment-page';
import { ExperimentListPage } from './pages/experiment-list-page';
import { ExperimentPage } from './pages/experiment-page';
import { NewExperimentPage } from './pages/new-experiment-page';
import { NotificationSettingsPage } from './pages/notification-settings-page';
import { DeliveryLogPage } from './pages/delivery-log-page';
import { SignInPage } from './pages/sign-in-page';
import { ApiTokensPage } from './pages/api-tokens-page';
import { IdentityProviderPage } from './pages/identity-provider-page';
import { SweepListPage } from './pages/sweep-list-page';
import { SweepPage } from './pages/sweep-page';
import { WorkersPage } from './pages/workers-page';

/** The whole UI. */
export function App() {
  return (
    <Routes>
      <Route path="/sign-in" element={<Frame />}>
        <Route index element={<SignInPage />} />
      </Route>
      <Route
        element={
          <RequireSession>
            <Frame />
          </RequireSession>
        }
      >
        <Route index element={<Navigate to="/experiments" replace />} />
        <Route path="experiments" element={<ExperimentListPage />} />
        <Route path="experiments/new" element={<NewExperimentPage />} />
        <Route path="experiments/:id" element={<ExperimentPage />} />
        <Route path="experiments/:id/clone" element={<CloneExperimentPage />} />
        <Route path="sweeps" element={<SweepListPage />} />
        <Route path="sweeps/:id" element={<SweepPage />} />
        <Route path="notifications" element={<DeliveryLogPage />} />
        <Route path="settings/notifications" element={<NotificationSettingsPage />} />
        <Route path="settings/tokens" element={<ApiTokensPage />} />
        <Route path="settings/sign-in" element={<IdentityProviderPage />} />
        <Route path="workers" element={<WorkersPage />} />
        <Route path="*" element={<NotFoundPage />} />
      </Route>
    </Routes>
  );
}

/** Sends signed-out visitors to the sign-in page, remembering where they wanted to go. */
function RequireSession({ children }: { children: ReactNode }) {
  const { status } = useSession();
  const location = useLocation();
  if (status === 'checking') {
    return (
      <p className="loading" role="status">
        Checking your session…
      </p>
    );
  }
  if (status === 'signed-out')
    return <Navigate to="/sign-in" replace state={{ from: location.pathname + location.search }} />;
  return <>{children}</>;
}

function Frame() {
  const { me, branding } = useSession();
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="site-header">
        <div className="site-header-inner">
          <Link to="/" className="gateway-name">
            {me?.gateway.name ?? branding?.name ?? 'Drover'}
          </Link>
          {me && <Navigation />}
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <Outlet />
      </main>
    </>
  );
}

function Navigation() {
  const me = useMe();
  const { signOut } = useSession();
  const navigate = useNavigate();
  return (
    <nav aria-label="Main">
      <ul>
        <li>
          <NavLink to="/experiments" end>
            Experiments
          </NavLink>
        </li>
        <li>
          <NavLink to="/experiments/new">New experiment</NavLink>
        </li>
        <li>
          <NavLink to="/sweeps">Sweeps</NavLink>
        </li>
        <li>
          <NavLink to="/notifications">Notifications</NavLink>
        </li>
        <li>
          <NavLink to="/settings/tokens">API tokens</NavLink>
        </li>
        {me.user.role === 'admin' && (
          <li>
            <NavLink to="/settings/sign-in">Sign-in settings</NavLink>
          </li>
        )}
        {me.user.operator && (
          <li>
            <NavLink to="/workers">Workers</NavLink>
          </li>
        )}
      </ul>
      <div className="user">
        <span>
          <span className="visually-hidden">Signed in as </span>
          {me.user.name}
          {me.user.role === 'admin' && <span className="role"> (admin)</span>}
        </span>
        <button
          type="button"
          onClick={async () => {
            await signOut('You are signed out.');
            navigate('/sign-in');
          }}
        >
          Sign out
        </button>
      </div>
    </nav>
  );
}

function NotFoundPage() {
  return (
    <>
      <PageHeading title="Page not found" />
      <p>
        There is no page here. Go to the <Link to="/experiments">experiments</Link>.
      </p>
    </>
  );
}

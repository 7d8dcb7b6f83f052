import { useEffect, useMemo, useState } from 'react';
import { Link, Redirect, Route, Switch, useLocation } from 'wouter';
import { errorCode, errorMessage, keyStore, makeClient } from './api';
import type { WhoAmI } from './errands';
import { SessionProvider, useLive, useSession } from './session';
import type { Permission, Session } from './session';
import { Alert, Spinner } from './components/ui';
import { Overview } from './pages/Overview';
import { TaskList } from './pages/TaskList';
import { TaskDetail } from './pages/TaskDetail';
import { ReviewQueue } from './pages/ReviewQueue';
import { NewTask } from './pages/NewTask';
import { Schedules } from './pages/Schedules';
import { Webhooks } from './pages/Webhooks';
import { Reports } from './pages/Reports';
import { AuditLog } from './pages/AuditLog';
import { Clients } from './pages/Clients';
import { Connections } from './pages/Connections';
import { Triggers } from './pages/Triggers';
import { LiveView } from './pages/LiveView';
import { RateLimits } from './pages/RateLimits';

interface SignedIn { key: string; me: WhoAmI }

export function App() {
  const [signedIn, setSignedIn] = useState<SignedIn | null>(null);
  const [checking, setChecking] = useState(() => keyStore.get() !== null);
  useEffect(() => {
    const key = keyStore.get();
    if (key === null) return;
    makeClient(key).system.whoami.query().then(
      (me) => setSignedIn({ key, me }),
      () => keyStore.clear(),
    ).finally(() => setChecking(false));
  }, []);
  const session = useMemo<Session | null>(() => {
    if (!signedIn) return null;
    const permissions = new Set(signedIn.me.permissions);
    return {
      key: signedIn.key,
      me: signedIn.me,
      client: makeClient(signedIn.key),
      can: (p: Permission) => permissions.has(p),
      signOut: () => { keyStore.clear(); setSignedIn(null); },
    };
  }, [signedIn]);
  if (checking) return <div className="center"><Spinner /></div>;
  if (!session) {
    return <Login onSignedIn={(key, me) => { keyStore.set(key); setSignedIn({ key, me }); }} />;
  }
  return (
    <SessionProvider session={session}>
      <Shell />
    </SessionProvider>
  );
}

function Login(props: { onSignedIn: (key: string, me: WhoAmI) => void }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const me = await makeClient(key.trim()).system.whoami.query();
      props.onSignedIn(key.trim(), me);
    } catch (err) {
      setError(errorCode(err) === 'UNAUTHORIZED'
        ? `That API key was not accepted: ${errorMessage(err)}`
        : `Could not sign in: ${errorMessage(err)}`);
    } finally {
      setBusy(false);
    }
  }
  return (
    <div className="login">
      <a className="skip-link" href="#api-key">Skip to the sign-in form</a>
      <main className="login-main">
        <form className="card login-card" onSubmit={submit} noValidate aria-labelledby="login-title">
          <div className="brand brand-large"><span className="logo" aria-hidden="true" /><h1 id="login-title">Errands</h1></div>
          <p className="muted">Operator console. Sign in with an API key; it is kept for this browser tab only.</p>
          <label htmlFor="api-key">API key</label>
          <input id="api-key" type="password" autoComplete="off" value={key} autoFocus
            onChange={(e) => setKey(e.target.value)} placeholder="paste your key" />
          {error ? <Alert>{error}</Alert> : null}
          <button className="primary" type="submit" disabled={busy}>{busy ? 'Signing in…' : 'Sign in'}</button>
          <p className="hint">A server started without <code>ERRANDS_API_KEYS</code> (loopback only) accepts an empty key.</p>
        </form>
      </main>
      <footer className="login-foot"><ThemeSwitch /></footer>
    </div>
  );
}

type Theme = 'system' | 'light' | 'dark';
const THEME_KEY = 'errands.theme';

function applyTheme(theme: Theme) {
  if (theme === 'system') delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
}
applyTheme((localStorage.getItem(THEME_KEY) as Theme | null) ?? 'system');

/** Light, dark, or as the system says (the default); kept in this browser. */
function ThemeSwitch() {
  const [theme, setTheme] = useState<Theme>(() => (localStorage.getItem(THEME_KEY) as Theme | null) ?? 'system');
  useEffect(() => {
    applyTheme(theme);
    if (theme === 'system') localStorage.removeItem(THEME_KEY); else localStorage.setItem(THEME_KEY, theme);
  }, [theme]);
  return (
    <label className="theme-switch">Theme
      <select value={theme} onChange={(e) => setTheme(e.target.value as Theme)}>
        <option value="system">as the system</option>
        <option value="light">light</option>
        <option value="dark">dark</option>
      </select>
    </label>
  );
}

const NAV: { href: string; label: string; permission?: Permission }[] = [
  { href: '/', label: 'Overview' },
  { href: '/tasks', label: 'Tasks' },
  { href: '/review', label: 'Review queue' },
  { href: '/new', label: 'New task', permission: 'create' },
  { href: '/schedules', label: 'Schedules' },
  { href: '/webhooks', label: 'Webhooks & messages' },
  { href: '/clients', label: 'Clients' },
  { href: '/connections', label: 'Connections' },
  { href: '/triggers', label: 'Triggers' },
  { href: '/rate-limits', label: 'Rate limits' },
  { href: '/reports', label: 'Reports' },
  { href: '/audit', label: 'Audit log' },
];

function Shell() {
  const { me, can, signOut } = useSession();
  const live = useLive();
  const [location] = useLocation();
  const [menu, setMenu] = useState(false);
  useEffect(() => { setMenu(false); }, [location]);
  const active = (href: string) => href === '/' ? location === '/' : location.startsWith(href);
  return (
    <div className="shell">
      <a className="skip-link" href="#content" onClick={(e) => {
        e.preventDefault(); document.getElementById('content')?.focus();
      }}>Skip to content</a>
      <header className="sidebar">
        <div className="topline">
          <div className="brand"><span className="logo" aria-hidden="true" />Errands</div>
          <button type="button" className="menu-button" aria-expanded={menu} aria-controls="main-nav"
            onClick={() => setMenu((m) => !m)}>Menu</button>
        </div>
        <div id="main-nav" className={menu ? 'nav-panel open' : 'nav-panel'}>
          <nav aria-label="Main">
            {NAV.filter((item) => !item.permission || can(item.permission)).map((item) => (
              <Link key={item.href} href={item.href} className={active(item.href) ? 'nav-link active' : 'nav-link'}
                aria-current={active(item.href) ? 'page' : undefined}>
                {item.label}
              </Link>
            ))}
          </nav>
          <div className="sidebar-foot">
            <div className={live ? 'live on' : 'live'} title="tasks.onChange">
              <span className="dot" />{live ? 'Live' : 'Connecting…'}
            </div>
            <div className="whoami" aria-label="Signed in as" role="group">
              <strong>{me.name ?? 'local (no keys configured)'}</strong>
              <span className={`role role-${me.role}`}>{me.role}</span>
            </div>
            <ThemeSwitch />
            <button type="button" className="link" onClick={signOut}>Sign out</button>
          </div>
        </div>
      </header>
      <main className="content" id="content" tabIndex={-1}>
        <Switch>
          <Route path="/"><Overview /></Route>
          <Route path="/login"><Redirect to="/" /></Route>
          <Route path="/tasks"><TaskList /></Route>
          <Route path="/tasks/:id">{(params) => <TaskDetail id={params.id} />}</Route>
          <Route path="/review"><ReviewQueue /></Route>
          <Route path="/new"><NewTask /></Route>
          <Route path="/schedules"><Schedules /></Route>
          <Route path="/webhooks"><Webhooks /></Route>
          <Route path="/reports"><Reports /></Route>
          <Route path="/audit"><AuditLog /></Route>
          <Route path="/clients"><Clients /></Route>
          <Route path="/connections"><Connections /></Route>
          <Route path="/triggers"><Triggers /></Route>
          <Route path="/live/:id">{(params) => <LiveView executionId={params.id} />}</Route>
          <Route path="/rate-limits"><RateLimits /></Route>
          <Route><div className="empty">No such page. <Link href="/">Go to the overview</Link>.</div></Route>
        </Switch>
      </main>
    </div>
  );
}

// The autorun switch (system.autorun / system.setAutorun): an admin turns it off and on and pauses
// task types; every other role sees its state only.
import { useEffect, useState } from 'react';
import type { Autorun as AutorunState, TaskType } from '../errands';
import { useAction, useLoad } from '../hooks';
import { CREATABLE_TYPES, TYPE_LABELS } from '../labels';
import { useSession } from '../session';
import { Alert, Spinner } from './ui';

export function AutorunPanel() {
  const { client, can } = useSession();
  const state = useLoad(() => client.system.autorun.query(), [client]);
  const action = useAction();
  const admin = can('admin');
  const [s, setShown] = useState<AutorunState | undefined>(undefined); // shown at once, then as answered
  useEffect(() => { if (state.data) setShown(state.data); }, [state.data]);
  async function change(input: { enabled?: boolean; pausedTypes?: TaskType[] }) {
    const before = s;
    if (before) setShown({ ...before, ...input });
    const next: AutorunState | undefined = await action.run(() => client.system.setAutorun.mutate(input));
    setShown(next ?? before);
  }
  return (
    <section className="card" aria-label="Autorun">
      <div className="section-head">
        <h2>Autorun</h2>
        {s ? <span className={s.enabled ? 'badge badge-active' : 'badge badge-failed'} data-autorun={s.enabled ? 'on' : 'off'}>
          {s.enabled ? 'on' : 'off'}</span> : null}
      </div>
      {state.error ? <Alert>{state.error}</Alert> : null}
      {!s ? <Spinner /> : (
        <>
          <p className="hint">
            {s.enabled
              ? 'Attempts start as tasks come due.'
              : 'No attempt starts: tasks wait queued (“autorun paused”); running attempts finish.'}
            {s.pausedTypes.length ? ` Paused types: ${s.pausedTypes.map((t) => TYPE_LABELS[t]).join(', ')}.` : ''}
          </p>
          {admin ? (
            <>
              <label className="switch">
                <input type="checkbox" role="switch" checked={s.enabled} disabled={action.busy}
                  onChange={(e) => void change({ enabled: e.target.checked })} />
                <span>Run tasks automatically</span>
              </label>
              <fieldset className="type-pauses">
                <legend>Pause a task type</legend>
                {CREATABLE_TYPES.map((t) => (
                  <label key={t} className="check">
                    <input type="checkbox" checked={s.pausedTypes.includes(t)} disabled={action.busy}
                      aria-label={`Pause ${TYPE_LABELS[t]}`}
                      onChange={(e) => void change({ pausedTypes: e.target.checked
                        ? [...s.pausedTypes, t] : s.pausedTypes.filter((x) => x !== t) })} />
                    {TYPE_LABELS[t]}
                  </label>
                ))}
              </fieldset>
            </>
          ) : <p className="muted small">Only an admin may change this.</p>}
        </>
      )}
      {action.error ? <Alert>{action.error}</Alert> : null}
    </section>
  );
}

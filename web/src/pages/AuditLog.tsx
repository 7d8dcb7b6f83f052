import { useEffect, useState } from 'react';
import { useSearch } from 'wouter';
import { useLoad } from '../hooks';
import { useSession } from '../session';
import { AuditTable } from '../components/AuditTable';
import { Alert, Empty, PageHeader, Spinner } from '../components/ui';

const PAGE = 50;

/** Every recorded change (audit.list), newest first; filters by actor, action and target. */
export function AuditLog() {
  const { client } = useSession();
  const params = new URLSearchParams(useSearch());
  const [text, setText] = useState(() => ({
    actor: params.get('actor') ?? '', action: params.get('action') ?? '', target: params.get('target') ?? '',
  }));
  const [filter, setFilter] = useState(() => ({
    actor: text.actor.trim(), action: text.action.trim(), target: text.target.trim(),
  }));
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const cursor = cursors[cursors.length - 1];
  useEffect(() => {
    const next = { actor: text.actor.trim(), action: text.action.trim(), target: text.target.trim() };
    const t = window.setTimeout(() => setFilter((f) =>
      f.actor === next.actor && f.action === next.action && f.target === next.target ? f : next), 300);
    return () => window.clearTimeout(t);
  }, [text]);
  useEffect(() => { setCursors([null]); }, [filter]);
  const page = useLoad(() => client.audit.list.query({
    actor: filter.actor || null, action: filter.action || null, targetId: filter.target || null,
    limit: PAGE, cursor,
  }), [client, filter, cursor]);
  const set = (name: keyof typeof text) => (e: React.ChangeEvent<HTMLInputElement>) =>
    setText((t) => ({ ...t, [name]: e.target.value }));
  const items = page.data?.items ?? [];
  return (
    <>
      <PageHeader title="Audit log" sub="Every change, who made it and when; newest first.">
        <button type="button" onClick={page.reload}>Refresh</button>
      </PageHeader>
      <form className="filters" role="search" aria-label="Audit filters" onSubmit={(e) => e.preventDefault()}>
        <label>Actor
          <input value={text.actor} onChange={set('actor')} placeholder="key name or system" />
        </label>
        <label>Action
          <input list="audit-actions" value={text.action} onChange={set('action')} placeholder="e.g. tasks.approve" />
          <datalist id="audit-actions">
            {['tasks.create', 'tasks.update', 'tasks.approve', 'tasks.approveMany', 'tasks.reject', 'tasks.execute',
              'tasks.complete', 'tasks.cancel', 'tasks.retry', 'system.setAutorun', 'stalled', 'recovered']
              .map((a) => <option key={a} value={a} />)}
          </datalist>
        </label>
        <label className="grow">Target
          <input value={text.target} onChange={set('target')} placeholder="task, webhook or schedule id" />
        </label>
      </form>
      {page.error ? <Alert>{page.error}</Alert> : null}
      {page.loading && !page.data ? <div className="center"><Spinner /></div> : null}
      {page.data && items.length === 0 ? <Empty>No audit entries match.</Empty> : null}
      {items.length ? <AuditTable entries={items} /> : null}
      <div className="pager">
        <button type="button" disabled={cursors.length === 1} onClick={() => setCursors((c) => c.slice(0, -1))}>Newer</button>
        <span className="muted">Page {cursors.length}</span>
        <button type="button" disabled={!page.data?.nextCursor}
          onClick={() => { const next = page.data?.nextCursor; if (next) setCursors((c) => [...c, next]); }}>Older</button>
      </div>
    </>
  );
}

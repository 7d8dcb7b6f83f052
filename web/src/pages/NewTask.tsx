import { useState } from 'react';
import { useLocation } from 'wouter';
import { errorMessage, issuesByPath } from '../api';
import { useLoad } from '../hooks';
import { useSession } from '../session';
import { DraftError, emptyDraft, TaskFormFields, toTaskCreate } from '../components/TaskForm';
import type { TaskDraft } from '../components/TaskForm';
import { Alert, PageHeader } from '../components/ui';

export function NewTask() {
  const { client, can } = useSession();
  const [, navigate] = useLocation();
  const [draft, setDraft] = useState<TaskDraft>(() => emptyDraft());
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [message, setMessage] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const webhooks = useLoad(() => can('webhooks') ? client.webhooks.list.query() : Promise.resolve([]), [client]);
  if (!can('create')) return <><PageHeader title="New task" /><Alert>Your role may not create tasks.</Alert></>;
  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setBusy(true);
    setErrors({});
    setMessage(null);
    try {
      const task = await client.tasks.create.mutate(toTaskCreate(draft));
      navigate(`/tasks/${task.id}`);
    } catch (err) {
      if (err instanceof DraftError) {
        setErrors({ [err.path]: `${err.path.split('.').pop()} ${err.message}` });
      } else {
        const issues = issuesByPath(err);
        setErrors(issues);
        const list = Object.entries(issues).map(([path, text]) => `${path}: ${text}`).join('; ');
        setMessage(list ? `The server refused the task — ${list}` : errorMessage(err));
      }
    } finally {
      setBusy(false);
    }
  }
  return (
    <>
      <PageHeader title="New task" sub="The server checks everything; its answers appear at the fields." />
      <form className="card form" onSubmit={submit} noValidate aria-labelledby="new-task-title">
        <h2 id="new-task-title">The task</h2>
        <TaskFormFields draft={draft} onChange={setDraft} errors={errors} webhooks={webhooks.data ?? []} />
        {message ? <Alert>{message}</Alert> : null}
        <div className="button-row">
          <button type="submit" className="primary" disabled={busy}>Create task</button>
        </div>
      </form>
    </>
  );
}

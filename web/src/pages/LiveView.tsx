import { useEffect, useRef, useState } from 'react';
import { Link } from 'wouter';
import { errorCode, errorMessage } from '../api';
import type { LiveView as Frame } from '../errands';
import { useSession, useTaskEvents } from '../session';
import { Alert, Id, PageHeader, Time } from '../components/ui';

const EVERY_MS = 1000; // the server takes a new frame when the last is about a second old

/** A running browser attempt as it is now (CONTRACT §17): its step and a frame of its page,
 * asked of tasks.liveView about once a second while the page is open. */
export function LiveView(props: { executionId: string }) {
  const { client } = useSession();
  const taskId = new URLSearchParams(window.location.search).get('task');
  const [frame, setFrame] = useState<Frame | null>(null);
  const [ended, setEnded] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const over = useRef(false);
  // The attempt's end comes as a live event: polling stops then (the server would answer
  // PRECONDITION_FAILED from now on).
  useTaskEvents((event) => {
    if (event.execution?.id === props.executionId && event.execution.status !== 'running') {
      over.current = true;
      setEnded(`It ended: ${event.execution.status}.`);
    }
  });
  useEffect(() => {
    let alive = true;
    let timer: number | undefined;
    over.current = false;
    setFrame(null); setEnded(null); setError(null);
    const ask = () => {
      if (over.current) return;
      client.tasks.liveView.query({ executionId: props.executionId }).then(
        (got) => {
          if (!alive || over.current) return;
          setFrame(got); setError(null);
          timer = window.setTimeout(ask, EVERY_MS);
        },
        (err: unknown) => {
          if (!alive || over.current) return;
          if (errorCode(err) === 'PRECONDITION_FAILED') { over.current = true; setEnded(errorMessage(err)); return; }
          setError(errorMessage(err));
          if (errorCode(err) !== 'NOT_FOUND') timer = window.setTimeout(ask, EVERY_MS * 3);
        },
      );
    };
    ask();
    return () => { alive = false; window.clearTimeout(timer); };
  }, [client, props.executionId]);
  const step = frame?.stepIndex !== null && frame?.stepIndex !== undefined
    ? `Step ${frame.stepIndex + 1}${frame.step ? `: ${frame.step}` : ''}` : (frame?.step ?? 'Starting…');
  return (
    <>
      <PageHeader title="Live view" sub={<>
        {taskId ? <><Link href={`/tasks/${taskId}`}>Task</Link> / </> : null}attempt <Id id={props.executionId} />
      </>} />
      {error ? <Alert>{error}</Alert> : null}
      {ended ? (
        <Alert kind="info">The attempt has ended, and its live view with it. {ended} {taskId
          ? <Link href={`/tasks/${taskId}`}>See the task</Link> : null}</Alert>
      ) : null}
      {frame && !ended ? (
        <section className="card live-view" aria-label="Live view">
          <p className="live-step" aria-live="polite"><strong>{step}</strong></p>
          {frame.screenshot ? (
            <figure className="live-frame">
              <img src={frame.screenshot.url} data-frame={frame.screenshot.id}
                alt={`The browser page during ${step.toLowerCase()}`} />
              <figcaption className="muted">Taken <Time at={frame.at} absolute />; refreshed about once a second.</figcaption>
            </figure>
          ) : <p className="muted">No picture of the page yet (it is loading, or the attempt runs on another node).</p>}
        </section>
      ) : null}
    </>
  );
}

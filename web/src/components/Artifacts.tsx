import { useEffect, useState } from 'react';
import { artifactBlobUrl, errorMessage } from '../api';
import type { Artifact } from '../errands';
import { useSession } from '../session';
import { Modal } from './ui';

/** A screenshot fetched with the key (GET /artifacts/<id>), inline; click to enlarge. */
export function Screenshot(props: { artifact: Artifact }) {
  const { key } = useSession();
  const [src, setSrc] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [big, setBig] = useState(false);
  useEffect(() => {
    let url: string | null = null;
    let alive = true;
    artifactBlobUrl(props.artifact.url, key).then(
      (u) => { url = u; if (alive) setSrc(u); else URL.revokeObjectURL(u); },
      (err: unknown) => { if (alive) setError(errorMessage(err)); },
    );
    return () => { alive = false; if (url) URL.revokeObjectURL(url); };
  }, [props.artifact.url, key]);
  const name = props.artifact.name ?? 'screenshot';
  if (error) return <div className="field-error">{name}: {error}</div>;
  return (
    <figure className="shot">
      {src ? (
        <button type="button" className="shot-button" onClick={() => setBig(true)} aria-label={`Enlarge ${name}`}>
          <img src={src} alt={`Screenshot: ${name}`} />
        </button>
      ) : <div className="shot-placeholder">loading…</div>}
      <figcaption>{name} · {Math.round(props.artifact.bytes / 1024)} KB</figcaption>
      {big && src ? (
        <Modal label={`Screenshot ${name}`} onClose={() => setBig(false)}>
          <img className="shot-large" src={src} alt={`Screenshot (enlarged): ${name}`} />
        </Modal>
      ) : null}
    </figure>
  );
}

/** A download (trace zip, report file) fetched with the key, saved through a blob URL. */
export function Download(props: { artifact: Artifact; label: string }) {
  const { key } = useSession();
  const [error, setError] = useState<string | null>(null);
  async function save() {
    setError(null);
    try {
      const url = await artifactBlobUrl(props.artifact.url, key);
      const a = document.createElement('a');
      a.href = url;
      a.download = props.artifact.name ?? `${props.artifact.kind}-${props.artifact.id}`;
      document.body.appendChild(a);
      a.click();
      a.remove();
      window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (err) {
      setError(errorMessage(err));
    }
  }
  return (
    <span>
      <button type="button" onClick={save}>{props.label}</button>
      {error ? <span className="field-error"> {error}</span> : null}
    </span>
  );
}

// The official @trpc/client (11.x), set up for Errands; pytest drives it via tests/support/node.py.
//
//   import { makeClient, call, collect, errorInfo, print } from './client.mjs';
//   const client = makeClient({ url: process.env.TRPC_URL, apiKey: process.env.API_KEY,
//                               link: 'batch' });   // 'http' | 'batch' | 'stream'
//   print(await call(client, 'tasks.get', 'query', { id }));
//
// Queries and mutations go through the chosen link with `Authorization: Bearer <apiKey>`;
// subscriptions always go through httpSubscriptionLink (Server-Sent Events, the `eventsource`
// package since Node 20 has no global EventSource) with the key in `connectionParams`.
import {
  createTRPCClient,
  httpBatchLink,
  httpBatchStreamLink,
  httpLink,
  httpSubscriptionLink,
  splitLink,
  TRPCClientError,
} from '@trpc/client';
import { EventSource } from 'eventsource';

const LINKS = { http: httpLink, batch: httpBatchLink, stream: httpBatchStreamLink };

/** A client for `url` (e.g. http://127.0.0.1:8000/trpc). `headers` are added to every call. */
export function makeClient({ url, apiKey, link = 'batch', headers = {}, linkOptions = {} }) {
  const makeLink = LINKS[link];
  if (!makeLink) throw new Error(`unknown link ${link}; use one of ${Object.keys(LINKS)}`);
  const auth = apiKey ? { authorization: `Bearer ${apiKey}` } : {};
  return createTRPCClient({
    links: [
      splitLink({
        condition: (op) => op.type === 'subscription',
        true: httpSubscriptionLink({
          url,
          EventSource,
          connectionParams: apiKey ? auth : undefined,
        }),
        false: makeLink({ url, headers: () => ({ ...headers, ...auth }), ...linkOptions }),
      }),
    ],
  });
}

const METHODS = { query: 'query', mutation: 'mutate', mutate: 'mutate' };

/** Call a procedure by dotted path: kind is 'query' or 'mutation'. */
export function call(client, path, kind, input) {
  const method = METHODS[kind];
  if (!method) throw new Error(`unknown kind ${kind}; use 'query' or 'mutation'`);
  let target = client;
  for (const part of path.split('.')) target = target[part];
  return target[method](input);
}

/**
 * Subscribe to `path` and gather what arrives: `{events: [{id, data}], error, stopped}`.
 * Ends after `max` events, on completion, on a non-retryable error, or after `timeoutMs`.
 * `states` lists the connection states seen ('connecting' carries a retryable error).
 */
export function collect(client, path, input, { max = Infinity, timeoutMs = 10000 } = {}) {
  let target = client;
  for (const part of path.split('.')) target = target[part];
  return new Promise((resolve) => {
    const out = { events: [], error: null, stopped: false, timedOut: false, states: [] };
    let subscription = null;
    const finish = () => {
      clearTimeout(timer);
      subscription?.unsubscribe();
      resolve(out);
    };
    const timer = setTimeout(() => {
      out.timedOut = true;
      finish();
    }, timeoutMs);
    subscription = target.subscribe(input, {
      onData(value) {
        out.events.push(value && typeof value === 'object' && 'id' in value
          ? { id: value.id, data: value.data }
          : { id: null, data: value });
        if (out.events.length >= max) finish();
      },
      onError(err) {
        out.error = errorInfo(err);
        finish();
      },
      onComplete() {
        out.stopped = true;
        finish();
      },
      onConnectionStateChange(state) {
        out.states.push({ state: state.state, error: state.error ? errorInfo(state.error) : null });
      },
    });
    if (out.events.length >= max || out.error || out.stopped) finish();
  });
}

/** A plain object describing an error (a TRPCClientError keeps the server's `data`). */
export function errorInfo(err) {
  return {
    name: err?.name ?? null,
    isTRPCClientError: err instanceof TRPCClientError,
    message: err?.message ?? String(err),
    code: err?.data?.code ?? null,
    httpStatus: err?.data?.httpStatus ?? null,
    path: err?.data?.path ?? null,
    issues: err?.data?.issues ?? null,
    shapeCode: err?.shape?.code ?? null,
  };
}

/** Run `promise`; resolve to `{ok: true, data}` or `{ok: false, error: errorInfo}`. */
export async function settle(promise) {
  try {
    return { ok: true, data: await promise };
  } catch (err) {
    return { ok: false, error: errorInfo(err) };
  }
}

/** Write `value` as the JSON line that tests/support/node.py reads back. */
export function print(value) {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

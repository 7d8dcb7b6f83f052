// The one way the console talks to Errands: the official @trpc/client over /trpc, typed by the
// AppRouter generated from the server (src/errands.ts, `scripts/gen_client --ts`).
import {
  createTRPCClient, httpBatchLink, httpSubscriptionLink, splitLink, TRPCClientError,
} from '@trpc/client';
import type { AppRouter, ValidationIssue } from './errands';

export type Client = ReturnType<typeof makeClient>;

const STORAGE_KEY = 'errands.apiKey';

/** The key lives for this browser tab only (sessionStorage). */
export const keyStore = {
  get: (): string | null => sessionStorage.getItem(STORAGE_KEY),
  set: (key: string): void => sessionStorage.setItem(STORAGE_KEY, key),
  clear: (): void => sessionStorage.removeItem(STORAGE_KEY),
};

export function authHeaders(key: string): Record<string, string> {
  return key ? { authorization: `Bearer ${key}` } : {};
}

export function makeClient(key: string) {
  const url = `${window.location.origin}/trpc`;
  const auth = authHeaders(key);
  const calls = httpBatchLink({ url, headers: auth });
  // An EventSource sends its connectionParams in the URL: subscriptions carry a short-lived
  // token from system.subscriptionToken (asked with the key in a header), never the key itself.
  const tokens = createTRPCClient<AppRouter>({ links: [calls] });
  let token: { value: string; until: number } | null = null;
  const subscriptionAuth = async (): Promise<Record<string, string>> => {
    if (!key) return {};
    if (token === null || token.until - Date.now() < 30_000) {
      const issued = await tokens.system.subscriptionToken.mutate();
      token = { value: issued.token, until: Date.parse(issued.expiresAt) };
    }
    return { authorization: `Bearer ${token.value}` };
  };
  return createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === 'subscription',
        true: httpSubscriptionLink({ url, connectionParams: subscriptionAuth }),
        false: calls,
      }),
    ],
  });
}

/** A message of the server's validation (msgspec) said as a person would. */
export function readableIssue(message: string): string {
  const rules: [RegExp, (m: RegExpMatchArray) => string][] = [
    [/^Expected `str` of length >= 1/, () => 'must not be empty'],
    [/^Expected `str` of length <= (\d+)/, (m) => `must be at most ${m[1]} characters`],
    [/^Expected `array` of length >= (\d+)/, (m) => `needs at least ${m[1]} item${m[1] === '1' ? '' : 's'}`],
    [/^Expected `array` of length <= (\d+)/, (m) => `takes at most ${m[1]} items`],
    [/^Expected `int` >= (-?\d+)/, (m) => `must be a whole number of at least ${m[1]}`],
    [/^Expected `int` <= (-?\d+)/, (m) => `must be a whole number of at most ${m[1]}`],
    [/^Expected `(int|float)`, got `(\w+)`/, () => 'must be a number'],
    [/^Expected `str`, got `null`/, () => 'is required'],
    [/^Expected `str`, got `(\w+)`/, () => 'must be text'],
    [/^Expected `bool`, got/, () => 'must be yes or no'],
    [/^Expected `datetime`/, () => 'must be a date and time'],
    [/^Invalid enum value (.*)/, (m) => `is not one of the allowed values (${m[1]})`],
    [/^Object missing required field `(.+)`/, (m) => `${m[1]} is required`],
    [/^Object contains unknown field `(.+)`/, (m) => `${m[1]} is not a known field`],
  ];
  const text = message.replace(/ - at `\$[^`]*`$/, '');
  for (const [pattern, say] of rules) {
    const m = text.match(pattern);
    if (m) return say(m);
  }
  return text;
}

/** The server's message (tRPC error message), validation issues made readable, or — when no
 * answer came at all — that the server is not reachable (instead of "Failed to fetch"). */
export function errorMessage(err: unknown): string {
  if (err instanceof TRPCClientError) {
    const data = err.data as { code?: string; issues?: ValidationIssue[] } | undefined;
    if (!data) return unreachable(err);
    if (data.issues?.length) {
      return data.issues.map((i) => `${i.path.length ? `${i.path.join('.')}: ` : ''}${readableIssue(i.message)}`).join('; ');
    }
    const code = data.code;
    const message = readableIssue(err.message);
    return code ? `${message} (${code})` : message;
  }
  return err instanceof Error ? err.message : String(err);
}

export function errorCode(err: unknown): string | undefined {
  return err instanceof TRPCClientError
    ? (err.data as { code?: string } | undefined)?.code : undefined;
}

function unreachable(err: Error): string {
  const text = err.message || '';
  if (/fetch|network|load failed|ECONNREFUSED/i.test(text) || err.cause instanceof TypeError) {
    return 'The Errands server is not answering (it may be stopped or restarting, or the network is down). Try again in a moment.';
  }
  if (/JSON|Unexpected token/i.test(text)) {
    return 'The Errands server sent an answer the console cannot read (a proxy error page?). Try again in a moment.';
  }
  return text;
}

/** Validation issues (`error.data.issues`) by dotted field path, e.g. `executionConfig.apiEndpoint`. */
export function issuesByPath(err: unknown): Record<string, string> {
  if (!(err instanceof TRPCClientError)) return {};
  const issues = (err.data as { issues?: ValidationIssue[] } | undefined)?.issues ?? [];
  const out: Record<string, string> = {};
  for (const issue of issues) {
    const path = issue.path.join('.');
    const message = readableIssue(issue.message);
    out[path] = out[path] ? `${out[path]}; ${message}` : message;
  }
  return out;
}

/** Fetch an artifact under the same key (GET /artifacts/<id>) and hand back a blob URL. */
export async function artifactBlobUrl(url: string, key: string): Promise<string> {
  const resp = await fetch(url, { headers: authHeaders(key) });
  if (!resp.ok) throw new Error(`artifact: HTTP ${resp.status}`);
  return URL.createObjectURL(await resp.blob());
}

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

/** The server's message (tRPC error message) or a network failure, as one readable line. */
export function errorMessage(err: unknown): string {
  if (err instanceof TRPCClientError) {
    const code = (err.data as { code?: string } | undefined)?.code;
    return code ? `${err.message} (${code})` : err.message;
  }
  return err instanceof Error ? err.message : String(err);
}

export function errorCode(err: unknown): string | undefined {
  return err instanceof TRPCClientError
    ? (err.data as { code?: string } | undefined)?.code : undefined;
}

/** Validation issues (`error.data.issues`) by dotted field path, e.g. `executionConfig.apiEndpoint`. */
export function issuesByPath(err: unknown): Record<string, string> {
  if (!(err instanceof TRPCClientError)) return {};
  const issues = (err.data as { issues?: ValidationIssue[] } | undefined)?.issues ?? [];
  const out: Record<string, string> = {};
  for (const issue of issues) {
    const path = issue.path.join('.');
    out[path] = out[path] ? `${out[path]}; ${issue.message}` : issue.message;
  }
  return out;
}

/** Fetch an artifact under the same key (GET /artifacts/<id>) and hand back a blob URL. */
export async function artifactBlobUrl(url: string, key: string): Promise<string> {
  const resp = await fetch(url, { headers: authHeaders(key) });
  if (!resp.ok) throw new Error(`artifact: HTTP ${resp.status}`);
  return URL.createObjectURL(await resp.blob());
}

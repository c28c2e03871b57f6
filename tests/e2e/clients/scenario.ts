// The whole account and todo scenario through openapi-fetch, typed by the `paths` that
// openapi-typescript generated from the live document (./schema.d.ts beside the compiled copy),
// and nothing else: no fetch of our own. Written by path and method only (no component schema
// names), so renamed schemas do not break it; tsc checks every call against the document.
//
// Usage (after tsc): node scenario.js <base URL>
import createClient from "openapi-fetch";
import type { paths } from "./schema.js";

const base = process.argv[2];
const client = (token?: string) =>
  createClient<paths>({ baseUrl: base, headers: token ? { Authorization: `Bearer ${token}` } : {} });

function fail(step: string, what: string): never {
  console.error(`typescript client scenario: step '${step}' failed: ${what}`);
  process.exit(1);
}

function expect(step: string, condition: unknown, what: string): void {
  if (!condition) fail(step, what);
}

// Awaits one call, checks its status, and returns what openapi-fetch gave (data or error).
async function call<R extends { response: Response; data?: unknown; error?: unknown }>(
  step: string, status: number, request: Promise<R>,
): Promise<R> {
  const answer = await request;
  if (answer.response.status !== status) {
    fail(step, `status ${answer.response.status}, expected ${status}: ${JSON.stringify(answer.error ?? answer.data)}`);
  }
  return answer;
}

// The data of a successful call, which must be there.
function data<T>(step: string, answer: { data?: T }): T {
  return answer.data ?? fail(step, "no body");
}

const anonymous = client();
const email = `ts-${Math.random().toString(36).slice(2, 12)}@example.com`;
const password = "ts client pass";
const credentials = { email, password };

const user = data("signup", await call("signup", 200, anonymous.POST("/signup", { body: credentials })));
expect("signup", user.email === email && user.id, `unexpected user ${JSON.stringify(user)}`);
const token = data("login", await call("login", 200, anonymous.POST("/users/login", { body: credentials }))).token;
expect("login", token.split(".").length === 3, `not a JWT: ${token}`);
const me = client(token);
// whoAmI answers text/plain (LoopBack's contract): openapi-fetch is told to read it as text.
const who = data("whoAmI", await call("whoAmI", 200, me.GET("/whoAmI", { parseAs: "text" })));
expect("whoAmI", who.trim() === user.id, `whoAmI ${who} is not ${user.id}`);

const ids: number[] = [];
for (const [i, title] of ["alpha", "beta", "gamma"].entries()) {
  const body = { title, desc: `d${i}`, isComplete: i === 0 };
  const todo = data(`create todo ${i}`, await call(`create todo ${i}`, 200, me.POST("/todos", { body })));
  expect(`create todo ${i}`, todo.title === title, `got ${JSON.stringify(todo)}`);
  ids.push(todo.id);
}

const filter = JSON.stringify({ where: { isComplete: false }, order: "title DESC", limit: 5 });
const listed = data("list with filter", await call("list with filter", 200, me.GET("/todos", { params: { query: { filter } } })));
expect("list with filter", listed.map((t) => t.title).join() === "gamma,beta", `got ${JSON.stringify(listed)}`);
const where = JSON.stringify({ title: { like: "%a" } });
const count = data("count", await call("count", 200, me.GET("/todos/count", { params: { query: { where } } })));
expect("count", count.count === 3, `count ${count.count}, expected 3`);
const byId = (id: number) => ({ params: { path: { id } } });
const one = data("get one", await call("get one", 200, me.GET("/todos/{id}", byId(ids[1]))));
expect("get one", one.id === ids[1] && one.title === "beta", `got ${JSON.stringify(one)}`);

await call("PATCH one", 204, me.PATCH("/todos/{id}", { ...byId(ids[1]), body: { title: "beta 2" } }));
await call("PUT one", 204, me.PUT("/todos/{id}", { ...byId(ids[2]), body: { title: "gamma 2" } }));
const replaced = data("get after PUT", await call("get after PUT", 200, me.GET("/todos/{id}", byId(ids[2]))));
expect("PUT one", JSON.stringify(replaced) === JSON.stringify({ id: ids[2], title: "gamma 2" }), `got ${JSON.stringify(replaced)}`);
const bulkWhere = JSON.stringify({ title: { inq: ["beta 2", "gamma 2"] } });
const patched = data("bulk PATCH", await call("bulk PATCH", 200,
  me.PATCH("/todos", { params: { query: { where: bulkWhere } }, body: { isComplete: true } })));
expect("bulk PATCH", patched.count === 2, `count ${patched.count}, expected 2`);
await call("DELETE one", 204, me.DELETE("/todos/{id}", byId(ids[0])));
const left = data("list after DELETE", await call("list after DELETE", 200, me.GET("/todos")));
expect("DELETE one", left.map((t) => t.id).join() === ids.slice(1).join() && left.every((t) => t.isComplete),
  `got ${JSON.stringify(left)}`);

const sessions = data("list sessions", await call("list sessions", 200, me.GET("/users/me/sessions")));
expect("list sessions", sessions.filter((s) => s.current).length === 1, "not exactly one current session");

const pair = data("refresh-login", await call("refresh-login", 200, anonymous.POST("/users/refresh-login", { body: credentials })));
expect("refresh-login", pair.accessToken && pair.refreshToken, `got ${JSON.stringify(pair)}`);
const rotated = data("refresh", await call("refresh", 200,
  anonymous.POST("/refresh", { body: { refreshToken: pair.refreshToken ?? "" } })));
expect("refresh", rotated.refreshToken && rotated.refreshToken !== pair.refreshToken, "the refresh token was not rotated");
await call("whoAmI with refreshed token", 200, client(rotated.accessToken).GET("/whoAmI", { parseAs: "text" }));

await call("logout", 204, me.POST("/users/logout"));
// The typed error: `error` is the document's error envelope, read without a cast.
const { error } = await call("typed error after logout", 401, me.GET("/todos/count"));
expect("typed error after logout", error?.error.code && error.error.message && error.error.statusCode === 401,
  `got ${JSON.stringify(error)}`);
console.log(`typescript client: logged-out token -> 401 ${error?.error.code}: ${error?.error.message}`);

const again = client(data("log in again", await call("log in again", 200, anonymous.POST("/users/login", { body: credentials }))).token);
await call("delete account", 204, again.DELETE("/users/me", { body: { password } }));
await call("login after deletion", 401, anonymous.POST("/users/login", { body: credentials }));
console.log("typescript client: scenario passed");

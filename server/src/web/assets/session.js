// Sign-in state shared by Truckroll's pages: tokens in sessionStorage,
// refreshed before they expire, and a fetch wrapper for the JSON API.
"use strict";
window.TruckrollSession = (() => {
  const KEY = "truckroll.session";
  const load = () => {
    try { return JSON.parse(sessionStorage.getItem(KEY)) || null; } catch { return null; }
  };
  const save = (tokens) => {
    const session = {
      access_token: tokens.access_token,
      refresh_token: tokens.refresh_token,
      expires_at: Date.now() + tokens.expires_in * 1000,
    };
    sessionStorage.setItem(KEY, JSON.stringify(session));
    return session;
  };
  const problem = async (response) => {
    try {
      const body = await response.json();
      return body.detail || body.title || response.statusText;
    } catch { return response.statusText; }
  };
  // An API refusal: the problem's detail as the message, its status and
  // type kept so a page can explain a 409 instead of swallowing it.
  const refusal = async (response) => {
    let body = {};
    try { body = await response.json(); } catch { body = {}; }
    const error = new Error(body.detail || body.title || response.statusText);
    error.status = response.status;
    error.type = body.type || "";
    error.problem = body;
    return error;
  };
  async function signIn(tenant, email, password) {
    const response = await fetch("/v1/auth/login", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ tenant, email, password }),
    });
    if (!response.ok) throw new Error(await problem(response));
    return save(await response.json());
  }
  async function refresh() {
    const session = load();
    if (!session) throw new Error("not signed in");
    const response = await fetch("/v1/auth/refresh", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ refresh_token: session.refresh_token }),
    });
    if (!response.ok) { signOut(); throw new Error(await problem(response)); }
    return save(await response.json());
  }
  // A valid access token, refreshed when it has less than a minute left.
  async function token() {
    const session = load();
    if (!session) return null;
    if (session.expires_at - Date.now() < 60_000) return (await refresh()).access_token;
    return session.access_token;
  }
  async function api(path, options = {}) {
    const access = await token();
    if (!access) { location.assign("/"); throw new Error("not signed in"); }
    const response = await fetch(path, {
      ...options,
      headers: { "content-type": "application/json", authorization: `Bearer ${access}`, ...(options.headers || {}) },
    });
    if (response.status === 401) { signOut(); location.assign(`/?next=${encodeURIComponent(location.pathname + location.search)}`); }
    if (!response.ok) throw await refusal(response);
    return response.status === 204 ? null : response.json();
  }
  function signOut() { sessionStorage.removeItem(KEY); }
  return { signIn, token, api, signOut, signedIn: () => load() !== null };
})();

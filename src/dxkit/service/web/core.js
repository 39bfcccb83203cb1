// Shared core of the dxkit page: state, strings, and the one function that calls the
// service. Loaded first; answer.js, views.js and app.js take what they need from
// window.Dx. Patient data stays in `state` (memory only, never browser storage or the
// console); the CSRF token is sent in a header, which a cross-site form cannot do.
"use strict";
(function () {
  const I18N = window.DXKIT_I18N;
  const state = { lang: "en", csrf: null, csrfHeader: "X-Dxkit-Csrf", patients: [],
    catalogue: [], answer: null, notes: "", evidenceFor: null, historyOffset: 0, view: "case" };
  const $ = (id) => document.getElementById(id);
  const hooks = { sessionEnded: () => {} }; // set by app.js

  // --- language -------------------------------------------------------------------
  function t(key, vars) {
    let text = (I18N[state.lang] && I18N[state.lang][key]) || I18N.en[key] || key;
    for (const [k, v] of Object.entries(vars || {})) text = text.split(`{${k}}`).join(String(v));
    return text;
  }

  // --- talking to the service -------------------------------------------------------
  class ApiError extends Error {
    constructor(status, error) {
      super(error && error.what ? error.what : `HTTP ${status}`);
      this.status = status;
      this.error = error || {};
    }
  }

  async function api(method, path, body, bearer) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (bearer) headers.Authorization = `Bearer ${bearer}`;
    else if (state.csrf) headers[state.csrfHeader] = state.csrf;
    let response;
    try {
      response = await fetch(path, { method, headers, credentials: "same-origin",
        cache: "no-store", body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (_) {
      throw new ApiError(0, { what: t("err.network") });
    }
    if (response.status === 204) return null;
    let data = null;
    try { data = await response.json(); } catch (_) { data = null; }
    if (!response.ok) {
      const error = data && data.error ? data.error : { what: `HTTP ${response.status}` };
      if (response.status === 401 && !bearer) hooks.sessionEnded();
      throw new ApiError(response.status, error);
    }
    return data;
  }

  function describeError(err) {
    if (err.status === 0) return t("err.network");
    const e = err.error;
    const parts = [t("err.server", { status: err.status, what: e.what || "" })];
    if (e.expected) parts.push(t("err.expected", { text: e.expected }));
    if (e.found) parts.push(t("err.found", { text: e.found }));
    if (e.fix) parts.push(t("err.fix", { text: e.fix }));
    return parts.join(" ");
  }

  function setFieldError(input, box, message) {
    box.textContent = message;
    if (message) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }

  // Whole percents, but one decimal near the ends, where 0% or 100% would overstate.
  const pct = (p) => `${(100 * p).toFixed(p === 0 || p === 1 || (p >= 0.1 && p < 0.995) ? 0 : 1)}%`;

  window.Dx = { I18N, state, $, t, api, ApiError, describeError, setFieldError, pct, hooks };
})();

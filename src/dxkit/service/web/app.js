// The dxkit clinician page: log in, enter a case, read the differential, give feedback,
// look back at recent cases and at the dashboard.
//
// Privacy rules this file keeps: patient data travels only in request bodies (never in
// a URL), lives only in this script's memory (never localStorage/sessionStorage or
// cookies set by script), and is never written to the console. The session cookie is
// HttpOnly; the CSRF token from the login answer is kept in `state` and sent back in a
// header, which a cross-site form cannot do.
"use strict";
(function () {
  const { state, $, t, api, describeError, setFieldError, hooks } = window.Dx;
  const { renderAnswer, loadHistory, loadDashboard, PAGE } = window.Dx;

  function applyLanguage() {
    document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
    for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
    const lang = $("lang");
    lang.textContent = t("langSwitch");
    lang.setAttribute("aria-label", t("langSwitchLabel"));
    lang.lang = state.lang === "zh" ? "en" : "zh";
    fillPatients();
    for (const row of document.querySelectorAll(".obs-row")) relabelRow(row);
    if (state.answer) renderAnswer();
    if (state.view === "history" && state.csrf) loadHistory();
    if (state.view === "dashboard" && state.csrf) loadDashboard();
  }

  // --- login and views ----------------------------------------------------------------
  function showView(name) {
    state.view = name;
    for (const v of ["login", "case", "history", "dashboard"]) $(`view-${v}`).hidden = v !== name;
    for (const tab of document.querySelectorAll(".tab")) {
      if (tab.dataset.view === name) tab.setAttribute("aria-current", "page");
      else tab.removeAttribute("aria-current");
    }
  }

  async function login(event) {
    event.preventDefault();
    const input = $("token");
    const token = input.value.trim();
    setFieldError(input, $("token-error"), "");
    if (!token) { setFieldError(input, $("token-error"), t("login.empty")); input.focus(); return; }
    input.value = ""; // single-use: it is spent now whatever happens
    try {
      const session = await api("POST", "/v1/session", undefined, token);
      state.csrf = session.csrf_token;
      state.csrfHeader = session.csrf_header || state.csrfHeader;
      state.patients = session.patients || [];
      state.catalogue = await api("GET", "/v1/observations/catalogue");
    } catch (err) {
      state.csrf = null;
      setFieldError(input, $("token-error"), describeError(err));
      input.focus();
      return;
    }
    $("nav").hidden = false;
    $("logout").hidden = false;
    fillPatients();
    $("patient").selectedIndex = 0; // the login's first patient, "none" when it has none
    if (!document.querySelector(".obs-row")) addObsRow();
    showView("case");
    $("notes").focus();
  }

  function sessionEnded() {
    state.csrf = null;
    state.answer = null;
    $("nav").hidden = true;
    $("logout").hidden = true;
    $("result").hidden = true;
    showView("login");
    $("token-error").textContent = t("err.session");
    $("token").focus();
  }

  async function logout() {
    try { await api("DELETE", "/v1/session"); } catch (_) { /* the cookie is cleared anyway */ }
    $("case-form").reset();
    $("obs-rows").replaceChildren();
    sessionEnded();
    $("token-error").textContent = t("logout.done");
  }

  function fillPatients() {
    const select = $("patient");
    const current = select.value;
    select.replaceChildren();
    for (const p of state.patients) select.appendChild(new Option(p, p));
    select.appendChild(new Option(t("case.noPatient"), ""));
    if ([...select.options].some((o) => o.value === current)) select.value = current;
  }

  // --- observations -------------------------------------------------------------------
  let rowCounter = 0;
  const specOf = (row) => state.catalogue.find((s) => s.key === row.querySelector(".obs-name").value);
  const specName = (spec) => (state.lang === "zh" ? spec.name_zh : spec.name);

  function addObsRow() {
    const n = ++rowCounter;
    const row = document.createElement("div");
    row.className = "obs-row";
    row.innerHTML = `
      <div class="field"><label for="obs-${n}-name"></label><select id="obs-${n}-name" class="obs-name"></select></div>
      <div class="field"><label for="obs-${n}-value"></label><input id="obs-${n}-value" class="obs-value" type="text" inputmode="decimal" autocomplete="off" aria-describedby="obs-${n}-flag obs-${n}-error"></div>
      <div class="field"><label for="obs-${n}-unit"></label><select id="obs-${n}-unit" class="obs-unit"></select></div>
      <button type="button" class="obs-remove">✕</button>
      <p id="obs-${n}-flag" class="obs-flag" aria-live="polite"></p>
      <p id="obs-${n}-error" class="field-error" aria-live="polite"></p>`;
    $("obs-rows").appendChild(row);
    relabelRow(row);
    row.querySelector(".obs-name").addEventListener("change", () => { fillUnits(row); checkRow(row, false); });
    row.querySelector(".obs-value").addEventListener("input", () => checkRow(row, false));
    row.querySelector(".obs-unit").addEventListener("change", () => checkRow(row, false));
    row.querySelector(".obs-remove").addEventListener("click", () => {
      row.remove();
      $("add-obs").focus();
    });
    return row;
  }

  function relabelRow(row) {
    const index = [...document.querySelectorAll(".obs-row")].indexOf(row) + 1;
    const [nameLabel, valueLabel, unitLabel] = row.querySelectorAll("label");
    nameLabel.textContent = t("obs.name", { n: index });
    valueLabel.textContent = t("obs.value");
    unitLabel.textContent = t("obs.unit");
    row.querySelector(".obs-remove").setAttribute("aria-label", t("obs.remove", { n: index }));
    const select = row.querySelector(".obs-name");
    const chosen = select.value;
    select.replaceChildren(new Option(t("obs.choose"), ""));
    for (const spec of state.catalogue) select.appendChild(new Option(`${specName(spec)} (${spec.unit})`, spec.key));
    select.value = chosen;
    if (!row.querySelector(".obs-unit").options.length) fillUnits(row);
    checkRow(row, false);
  }

  function fillUnits(row) {
    const spec = specOf(row);
    const units = row.querySelector(".obs-unit");
    units.replaceChildren();
    for (const u of spec ? spec.units : []) units.appendChild(new Option(u.unit, u.unit));
  }

  // Flags the value as it is typed; returns an error message when it cannot be sent.
  function checkRow(row, submitting) {
    const spec = specOf(row);
    const input = row.querySelector(".obs-value");
    const flag = row.querySelector(".obs-flag");
    const errorBox = row.querySelector(".field-error");
    const raw = input.value.trim().replace(",", ".");
    row.classList.remove("abnormal", "unusual", "normal");
    flag.textContent = "";
    let error = "";
    if (!spec) {
      if (raw || submitting) error = raw ? t("err.obsName") : "";
      setFieldError(row.querySelector(".obs-name"), errorBox, error);
      return error;
    }
    const value = Number(raw);
    if (!raw || !Number.isFinite(value)) {
      error = raw || submitting ? t("err.obsValue") : "";
      setFieldError(input, errorBox, error);
      return error;
    }
    const unit = spec.units.find((u) => u.unit === row.querySelector(".obs-unit").value) || spec.units[0];
    const canonical = value * unit.factor + unit.offset;
    const [pLow, pHigh] = spec.plausible, [uLow, uHigh] = spec.unusual, [nLow, nHigh] = spec.normal;
    if (canonical < pLow || canonical > pHigh) {
      error = t("err.obsImpossible", { value: raw, unit: unit.unit, name: specName(spec),
        low: pLow, high: pHigh });
      row.classList.add("abnormal");
    } else {
      const normal = t("obs.normal", { low: nLow, high: nHigh, unit: spec.unit });
      if (canonical < uLow || canonical > uHigh) {
        row.classList.add("unusual");
        flag.textContent = `${t("obs.unusual")} (${normal})`;
      } else if (canonical < nLow || canonical > nHigh) {
        row.classList.add("abnormal");
        flag.textContent = `${canonical < nLow ? t("obs.low") : t("obs.high")} (${normal})`;
      } else {
        row.classList.add("normal");
        flag.textContent = `${t("obs.ok")} (${normal})`;
      }
    }
    setFieldError(input, errorBox, error);
    return error;
  }

  // --- the case form ------------------------------------------------------------------
  const listOf = (id) => $(id).value.split(/[,，;；]/).map((s) => s.trim()).filter(Boolean);

  function readCase() {
    const invalid = [];
    const ageText = $("age").value.trim();
    const age = Number(ageText);
    const ageBad = ageText !== "" && (!Number.isFinite(age) || age < 0 || age > 125);
    // type=number gives "" for text it cannot parse: check the browser's own verdict too
    const ageError = ageBad || $("age").validity.badInput ? t("err.age") : "";
    setFieldError($("age"), $("age-error"), ageError);
    if (ageError) invalid.push($("age"));
    const observations = [];
    for (const row of document.querySelectorAll(".obs-row")) {
      const untouched = !row.querySelector(".obs-name").value && !row.querySelector(".obs-value").value.trim();
      if (untouched) { checkRow(row, false); continue; }
      if (checkRow(row, true)) { invalid.push(row.querySelector("[aria-invalid]") || row.querySelector(".obs-value")); continue; }
      const spec = specOf(row);
      observations.push({ code: spec.loinc, value: Number(row.querySelector(".obs-value").value.trim().replace(",", ".")),
        unit: row.querySelector(".obs-unit").value });
    }
    const notes = $("notes").value.trim();
    const emptyError = !notes && !observations.length && !invalid.length ? t("err.empty") : "";
    setFieldError($("notes"), $("notes-error"), emptyError);
    if (emptyError) invalid.push($("notes"));
    if (invalid.length) return { invalid };
    const lifestyle = {};
    for (const k of ["smoking", "alcohol", "activity", "occupation"]) if ($(k).value.trim()) lifestyle[k] = $(k).value.trim();
    const body = { case_id: `web-${Date.now().toString(36)}`, sex: $("sex").value, notes, observations, lifestyle,
      history: { past_conditions: listOf("past_conditions"), medications: listOf("medications"),
        allergies: listOf("allergies"), family_history: listOf("family_history") } };
    if (ageText !== "") body.age = age;
    if ($("patient").value) body.patient_id = $("patient").value;
    return { body, notes };
  }

  // Puts a server 4xx next to the field it names, when it names one.
  function placeServerError(err) {
    const message = describeError(err);
    const e = err.error;
    const paths = (e.fields || []).map((f) => f.loc.filter((p) => p !== "body").join("."));
    const named = `${e.what || ""} ${paths.join(" ")}`;
    const obs = /observations[.[](\d+)\]?\.(value|unit|code)/.exec(named);
    if (obs) {
      const row = document.querySelectorAll(".obs-row")[Number(obs[1])];
      if (row) {
        const target = row.querySelector(obs[2] === "unit" ? ".obs-unit" : ".obs-value");
        setFieldError(target, row.querySelector(".field-error"), message);
        return target;
      }
    }
    for (const [field, input, box] of [["age", "age", "age-error"], ["notes", "notes", "notes-error"]]) {
      if (paths.includes(field)) { setFieldError($(input), $(box), message); return $(input); }
    }
    return null;
  }

  async function submitCase(event) {
    event.preventDefault();
    $("form-error").textContent = "";
    const read = readCase();
    if (read.invalid) {
      $("form-error").textContent = t("err.fixBelow");
      read.invalid[0].focus();
      return;
    }
    $("submit").disabled = true;
    $("busy").textContent = t("busy");
    try {
      const confidence = $("confidence").value;  // a level, never patient data
      const query = "top=5&evidence=3" + (confidence ? "&confidence=" + confidence : "");
      state.answer = await api("POST", "/v1/diagnose?" + query, read.body);
      state.notes = read.notes;
      state.evidenceFor = state.answer.conditions.length ? 0 : null;
      renderAnswer();
      $("result").hidden = false;
      $("result-title").focus();
    } catch (err) {
      if (err.status === 401) return;
      const field = placeServerError(err);
      $("form-error").textContent = describeError(err);
      (field || $("form-error")).focus();
    } finally {
      $("submit").disabled = false;
      $("busy").textContent = "";
    }
  }


  // --- wiring -------------------------------------------------------------------------
  function start() {
    hooks.sessionEnded = sessionEnded;
    $("login-form").addEventListener("submit", login);
    $("case-form").addEventListener("submit", submitCase);
    $("add-obs").addEventListener("click", () => addObsRow().querySelector(".obs-name").focus());
    $("logout").addEventListener("click", logout);
    $("lang").addEventListener("click", () => { state.lang = state.lang === "en" ? "zh" : "en"; applyLanguage(); });
    $("age").addEventListener("input", () => { if ($("age-error").textContent) readAgeOnly(); });
    $("prev-page").addEventListener("click", () => { state.historyOffset = Math.max(0, state.historyOffset - PAGE); loadHistory(); });
    $("next-page").addEventListener("click", () => { state.historyOffset += PAGE; loadHistory(); });
    for (const tab of document.querySelectorAll(".tab")) {
      tab.addEventListener("click", () => {
        const view = tab.dataset.view;
        showView(view);
        if (view === "history") { loadHistory(); $("history-title").focus(); }
        if (view === "dashboard") { loadDashboard(); $("dash-title").focus(); }
      });
    }
    if ((navigator.language || "").toLowerCase().startsWith("zh")) state.lang = "zh";
    applyLanguage();
    showView("login");
  }

  function readAgeOnly() {
    const text = $("age").value.trim();
    const age = Number(text);
    const bad = $("age").validity.badInput || (text !== "" && (!Number.isFinite(age) || age < 0 || age > 125));
    setFieldError($("age"), $("age-error"), bad ? t("err.age") : "");
  }

  document.addEventListener("DOMContentLoaded", start);
})();


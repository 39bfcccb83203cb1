// The answer view: refer banner, triage, conformal set, ranked conditions with their
// bars and feedback buttons, and the notes with the evidence words highlighted. Every
// piece is built from text nodes, never from HTML strings, so nothing in an answer can
// run as markup.
"use strict";
(function () {
  const { state, $, t, api, describeError, pct } = window.Dx;


  function renderAnswer() {
    const a = state.answer;
    const banner = $("abstain");
    banner.hidden = !a.abstain;
    banner.replaceChildren();
    if (a.abstain) {
      const strong = document.createElement("strong");
      strong.textContent = `⚠ ${t("result.refer")}`;
      const lead = document.createElement("p");
      lead.textContent = t("result.referLead");
      const reason = document.createElement("p");
      reason.textContent = a.abstain_reason;
      banner.append(strong, lead, reason);
    }
    const triage = $("triage");
    triage.className = `triage triage-${a.triage.level}`;
    triage.replaceChildren();
    const level = document.createElement("strong");
    level.textContent = `${t("result.triage")}: ${t(`triage.${a.triage.level}`)}`;
    const news = document.createElement("span");
    news.textContent = a.triage.news2 === null || a.triage.news2 === undefined
      ? t("result.news2none") : t("result.news2", { n: a.triage.news2 });
    const reason = document.createElement("p");
    reason.textContent = a.triage.reason;
    triage.append(level, " · ", news, reason);
    const conformal = $("conformal");
    conformal.replaceChildren();
    if (a.alpha) {
      const help = document.createElement("span");
      help.className = "help block";
      help.textContent = t("result.conformalHelp");
      conformal.append(t("result.conformal", { level: Math.round(100 * (1 - a.alpha)),
        names: a.prediction_set.join(", ") }), help);
    } else conformal.textContent = t("result.noConformal");
    renderConditions(a);
    renderEvidence();
    const warnings = $("warnings");
    warnings.replaceChildren();
    for (const w of a.warnings) {
      const li = document.createElement("li");
      li.textContent = `${w.field}: ${w.message}`;
      warnings.appendChild(li);
    }
    $("warnings-box").hidden = !a.warnings.length;
    $("model-info").textContent = t("result.model", { kind: a.model.kind, id: a.model.model_id, version: a.model.dxkit_version });
  }

  function renderConditions(a) {
    const list = $("conditions");
    list.replaceChildren();
    a.conditions.forEach((c, i) => {
      const li = document.createElement("li");
      li.className = "condition";
      const head = document.createElement("div");
      head.className = "cond-head";
      const name = document.createElement("span");
      name.className = "cond-name";
      name.textContent = c.icd10 ? `${c.name} (${c.icd10})` : c.name;
      head.appendChild(name);
      if (a.prediction_set.includes(c.name)) head.appendChild(badge(t("result.inSet"), "in-set"));
      if (c.triage) head.appendChild(badge(t(`triage.${c.triage}`), `triage-badge triage-${c.triage}`));
      const bar = document.createElement("div");
      bar.className = "bar";
      bar.setAttribute("role", "img");
      bar.setAttribute("aria-label", t("result.probability", { p: pct(c.probability) }));
      const fill = document.createElement("div");
      fill.className = "fill";
      fill.style.width = `${Math.max(0.5, 100 * c.probability)}%`;
      bar.appendChild(fill);
      const value = document.createElement("span");
      value.className = "prob";
      value.textContent = pct(c.probability);
      const actions = document.createElement("div");
      actions.className = "cond-actions";
      const ev = button(t("result.showEvidence"), t("result.evidenceLabel", { name: c.name }), () => {
        state.evidenceFor = i;
        renderAnswer();
        $("evidence-title").focus();
      });
      ev.setAttribute("aria-pressed", String(state.evidenceFor === i));
      const status = document.createElement("span");
      status.className = "fb-status";
      status.setAttribute("aria-live", "polite");
      const yes = button(t("result.confirm"), t("result.confirmLabel", { name: c.name }), () => feedback(c, "confirmed", status, [yes, no]));
      const no = button(t("result.reject"), t("result.rejectLabel", { name: c.name }), () => feedback(c, "rejected", status, [yes, no]));
      yes.classList.add("confirm");
      no.classList.add("reject");
      if (c.sent) { yes.disabled = no.disabled = true; status.textContent = t("result.sent", { verdict: t(`verdict.${c.sent}`) }); }
      actions.append(ev, yes, no, status);
      li.append(head, bar, value, actions);
      list.appendChild(li);
    });
  }

  function badge(text, cls) {
    const span = document.createElement("span");
    span.className = `badge ${cls}`;
    span.textContent = text;
    return span;
  }

  function button(text, label, onClick) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = text;
    b.setAttribute("aria-label", label);
    b.addEventListener("click", onClick);
    return b;
  }

  async function feedback(condition, verdict, status, buttons) {
    const stored = state.answer && state.answer.stored;
    if (!stored) return;
    for (const b of buttons) b.disabled = true;
    try {
      await api("POST", "/v1/feedback", { prediction_id: stored.prediction_id, verdict, condition: condition.name });
      condition.sent = verdict;
      status.textContent = t("result.sent", { verdict: t(`verdict.${verdict}`) });
    } catch (err) {
      for (const b of buttons) b.disabled = false;
      status.textContent = err.status === 403 ? `${t("result.noFeedback")} ${describeError(err)}` : describeError(err);
    }
  }

  function escapeRegex(s) { return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"); }

  // The notes with each evidence word marked; built from text nodes, never from HTML.
  function renderEvidence() {
    const a = state.answer;
    const box = $("evidence-view");
    const c = state.evidenceFor === null ? null : a.conditions[state.evidenceFor];
    box.hidden = !c;
    if (!c) return;
    $("evidence-title").textContent = t("result.evidenceFor", { name: c.name });
    const weights = new Map();
    for (const item of [...c.supporting, ...c.opposing]) {
      if (item.kind === "token") weights.set(item.feature.toLowerCase(), item.weight);
    }
    const maxW = Math.max(1e-9, ...[...weights.values()].map(Math.abs));
    const note = $("note-highlight");
    note.replaceChildren();
    const words = [...weights.keys()].sort((x, y) => y.length - x.length);
    if (words.length) {
      const alternatives = words.map((w) => (/^[\p{Script=Han}]/u.test(w) ? escapeRegex(w) : `(?<![\\p{L}\\p{N}])${escapeRegex(w)}(?![\\p{L}\\p{N}])`));
      const pattern = new RegExp(alternatives.join("|"), "giu");
      let last = 0;
      for (const m of state.notes.matchAll(pattern)) {
        note.appendChild(document.createTextNode(state.notes.slice(last, m.index)));
        const w = weights.get(m[0].toLowerCase());
        const mark = document.createElement("mark");
        mark.className = `${w > 0 ? "for" : "against"} strength-${Math.min(3, 1 + Math.floor((3 * Math.abs(w)) / maxW))}`;
        mark.textContent = m[0];
        mark.title = `${w > 0 ? t("result.for") : t("result.against")} ${c.name}: ${w.toFixed(3)}`;
        note.appendChild(mark);
        last = m.index + m[0].length;
      }
      note.appendChild(document.createTextNode(state.notes.slice(last)));
    } else {
      note.textContent = state.notes;
    }
    const structured = $("structured-evidence");
    structured.replaceChildren();
    const items = [...c.supporting, ...c.opposing].filter((i) => i.kind === "structured");
    for (const item of items) {
      const li = document.createElement("li");
      li.className = item.weight > 0 ? "for" : "against";
      li.textContent = `${item.weight > 0 ? t("result.for") : t("result.against")}: ${item.feature} (${item.weight.toFixed(3)})`;
      structured.appendChild(li);
    }
    if (!weights.size && !items.length) {
      const li = document.createElement("li");
      li.textContent = t("result.noEvidence");
      structured.appendChild(li);
    }
  }

  window.Dx.renderAnswer = renderAnswer;
})();

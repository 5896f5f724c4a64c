// The booking form's free times, updated in place (the page works without this script: the same list
// is a server-rendered step of the form). When theme and duration are chosen, and on the week buttons,
// the week's free times are fetched from GET /api/v1/availability and shown as checkboxes named
// free_start, as the server renders them; times ticked in other weeks stay ticked under their own heading.
"use strict";

(function () {
  const box = document.getElementById("free-times");
  if (!box || !window.fetch) return;
  const form = box.closest("form");
  const texts = JSON.parse(box.dataset.texts);
  const lang = box.dataset.lang;
  const first = box.dataset.first;
  const last = box.dataset.last;
  const status = document.getElementById("free-times-status");
  const title = document.getElementById("free-times-title");
  const daysBox = document.getElementById("free-times-days");
  const chosenBox = document.getElementById("free-times-chosen");
  const previous = document.getElementById("previous-week");
  const next = document.getElementById("next-week");
  const shownWeek = form.querySelector("input[name=shown_week]");
  const months = {
    da: ["januar", "februar", "marts", "april", "maj", "juni", "juli", "august", "september", "oktober",
         "november", "december"],
    en: ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
         "November", "December"],
  }[lang === "en" ? "en" : "da"];
  let week = box.dataset.week;
  let request = 0;
  const chosen = new Map(); // value -> its label in words, for the times ticked in other weeks

  document.getElementById("show-times").hidden = true;
  for (const input of box.querySelectorAll("input[name=free_start]:checked")) {
    chosen.set(input.value, input.dataset.text || input.labels[0].textContent.trim());
  }

  // --- dates, as "YYYY-MM-DD" (calendar dates: computed in UTC, so no time zone shifts them)
  const day = (text) => new Date(text + "T00:00:00Z");
  const iso = (date) => date.toISOString().slice(0, 10);
  const plus = (text, days) => iso(new Date(day(text).getTime() + days * 86400000));
  const isoWeek = (text) => {
    const date = day(text);
    const thursday = new Date(date.getTime() + (3 - ((date.getUTCDay() + 6) % 7)) * 86400000);
    const january4 = new Date(Date.UTC(thursday.getUTCFullYear(), 0, 4));
    return 1 + Math.round((thursday - january4) / 86400000 / 7 - ((january4.getUTCDay() + 6) % 7 - 3) / 7);
  };
  const words = (text, year) => {
    const date = day(text);
    const dayMonth = lang === "en"
      ? `${date.getUTCDate()} ${months[date.getUTCMonth()]}`
      : `${date.getUTCDate()}. ${months[date.getUTCMonth()]}`;
    return year ? `${dayMonth} ${date.getUTCFullYear()}` : dayMonth;
  };
  const mondayOf = (text) => plus(text, -((day(text).getUTCDay() + 6) % 7));

  function choice(value, label, checked, text) {
    const wrapper = document.createElement("div");
    wrapper.className = "choice";
    const input = document.createElement("input");
    input.type = "checkbox";
    input.id = "free-" + value;
    input.name = "free_start";
    input.value = value;
    input.checked = checked;
    input.dataset.text = text;
    const labelElement = document.createElement("label");
    labelElement.htmlFor = input.id;
    labelElement.textContent = label;
    wrapper.append(input, labelElement);
    return wrapper;
  }

  function group(legendText, choices) {
    const fieldset = document.createElement("fieldset");
    fieldset.className = "day";
    const legend = document.createElement("legend");
    legend.textContent = legendText;
    fieldset.append(legend, ...choices);
    return fieldset;
  }

  function showWeek(monday) {
    week = monday;
    shownWeek.value = monday;
    title.textContent = texts.week
      .replace("{number}", isoWeek(monday))
      .replace("{first}", words(monday, false))
      .replace("{last}", words(plus(monday, 4), true));
    const before = plus(monday, -7);
    const after = plus(monday, 7);
    previous.value = before >= mondayOf(first) ? before : "";
    previous.disabled = !previous.value;
    next.value = after <= last ? after : "";
    next.disabled = !next.value;
  }

  function showChosenElsewhere(shown) {
    const others = [...chosen].filter(([value]) => !shown.has(value));
    chosenBox.replaceChildren();
    if (others.length) {
      chosenBox.append(group(texts.chosen, others.map(([value, text]) => choice(value, text, true, text))));
    }
  }

  function render(slots) {
    const byDay = new Map();
    for (const slot of slots) {
      const value = slot.start.local.slice(0, 16);
      const label = `${slot.start.clock}–${slot.end.clock}`;
      if (!byDay.has(slot.start.day)) byDay.set(slot.start.day, []);
      byDay.get(slot.start.day).push(choice(value, label, chosen.has(value), slot.start.text));
    }
    daysBox.replaceChildren(...[...byDay].map(([legend, choices]) => group(legend, choices)));
    showChosenElsewhere(new Set(slots.map((slot) => slot.start.local.slice(0, 16))));
    status.textContent = slots.length ? texts.count.replace("{count}", slots.length) : texts.none;
  }

  async function load(monday) {
    const theme = form.querySelector("input[name=theme]:checked");
    const duration = form.querySelector("[name=duration_minutes]");
    showWeek(monday);
    if (!theme || !duration.value) {
      daysBox.replaceChildren();
      status.textContent = texts.choose;
      return;
    }
    const mine = ++request;
    status.textContent = texts.loading;
    const from = monday < first ? first : monday;
    const sunday = plus(monday, 6);
    const params = new URLSearchParams({
      theme: theme.value, duration_minutes: duration.value, from, to: sunday > last ? last : sunday, lang,
    });
    try {
      const response = await fetch(`${box.dataset.api}?${params}`, { headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(String(response.status));
      const answer = await response.json();
      if (mine === request) render(answer.slots);
    } catch (error) {
      if (mine !== request) return;
      daysBox.replaceChildren();
      showChosenElsewhere(new Set());
      status.textContent = texts.unavailable;
    }
  }

  form.addEventListener("change", (event) => {
    const target = event.target;
    if (target.name === "theme" || target.name === "duration_minutes") {
      chosen.clear(); // a time free for one theme and duration need not be free for another
      load(week);
    } else if (target.name === "free_start") {
      if (target.checked) chosen.set(target.value, target.dataset.text || target.value);
      else chosen.delete(target.value);
    }
  });
  for (const button of [previous, next]) {
    button.addEventListener("click", (event) => {
      event.preventDefault();
      if (button.value) load(button.value).then(() => button.disabled ? title.focus() : button.focus());
    });
  }
})();

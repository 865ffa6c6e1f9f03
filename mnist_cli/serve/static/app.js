// The page of `mnist serve`: draw on the canvas (pointer events: mouse, touch and pen alike,
// pressure ignored) or give a photo; the server answers from POST /api/predict.
"use strict";

const INK_WIDTH = 18; // on a 280-pixel square, about MNIST's stroke once scaled to 28
const DEBOUNCE_MS = 150; // while drawing, ask at most this often

const canvas = document.getElementById("canvas");
const context = canvas.getContext("2d");
const undoButton = document.getElementById("undo");
const clearButton = document.getElementById("clear");
const photoInput = document.getElementById("photo");
const drop = document.getElementById("drop");
const guess = document.getElementById("guess");
const topList = document.getElementById("top");
const seen = document.getElementById("seen");
const statusLine = document.getElementById("status");
const errorLine = document.getElementById("error");

let strokes = []; // each a list of [x, y] in canvas pixels
let current = null; // the stroke being drawn
let timer = null;
let asked = 0; // the number of the latest request: older answers are dropped

function paper() {
  context.fillStyle = "#fff";
  context.fillRect(0, 0, canvas.width, canvas.height);
  context.strokeStyle = "#000";
  context.fillStyle = "#000";
  context.lineWidth = INK_WIDTH;
  context.lineCap = "round";
  context.lineJoin = "round";
}

function drawStroke(points) {
  if (points.length === 1) {
    context.beginPath();
    context.arc(points[0][0], points[0][1], INK_WIDTH / 2, 0, 2 * Math.PI);
    context.fill();
    return;
  }
  context.beginPath();
  context.moveTo(points[0][0], points[0][1]);
  for (const [x, y] of points.slice(1)) context.lineTo(x, y);
  context.stroke();
}

function redraw() {
  paper();
  for (const stroke of strokes) drawStroke(stroke);
  undoButton.disabled = clearButton.disabled = strokes.length === 0;
}

function point(event) {
  const box = canvas.getBoundingClientRect();
  return [
    ((event.clientX - box.left) * canvas.width) / box.width,
    ((event.clientY - box.top) * canvas.height) / box.height,
  ];
}

canvas.addEventListener("pointerdown", (event) => {
  if (event.button !== 0) return;
  event.preventDefault();
  try {
    canvas.setPointerCapture(event.pointerId); // the stroke goes on past the canvas's edge
  } catch {
    // a pointer the browser no longer tracks: draw without capture
  }
  current = [point(event)];
  strokes.push(current);
  redraw();
});

canvas.addEventListener("pointermove", (event) => {
  if (!current) return;
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
  for (const each of events.length ? events : [event]) current.push(point(each));
  redraw();
  later();
});

function endStroke() {
  if (!current) return;
  current = null;
  askNow();
}
canvas.addEventListener("pointerup", endStroke);
canvas.addEventListener("pointercancel", endStroke);

function later() {
  clearTimeout(timer);
  timer = setTimeout(askNow, DEBOUNCE_MS);
}

function askNow() {
  clearTimeout(timer);
  if (strokes.length === 0) {
    showNothing();
    return;
  }
  const number = nextNumber(); // now, not once the PNG is made: the page is busy from here
  canvas.toBlob((png) => ask(number, png, "image/png", "your drawing"), "image/png");
}

function undo() {
  strokes.pop();
  redraw();
  askNow();
}

function clear() {
  strokes = [];
  redraw();
  askNow();
}

undoButton.addEventListener("click", undo);
clearButton.addEventListener("click", clear);
document.addEventListener("keydown", (event) => {
  if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "z") {
    event.preventDefault();
    if (strokes.length) undo();
  } else if (event.key === "Escape") {
    clear();
  }
});

// Each question gets the next number; the page shows an answer only to the latest, and marks
// on #guess which it asked (data-asked) and which it shows (data-answered).
function nextNumber() {
  asked += 1;
  guess.dataset.asked = String(asked);
  return asked;
}

function showNothing() {
  guess.dataset.answered = String(nextNumber());
  guess.textContent = "–";
  topList.replaceChildren();
  seen.removeAttribute("src");
  seen.alt = "The 28 by 28 image the model saw (nothing yet)";
  statusLine.textContent = "";
  errorLine.textContent = "";
}

async function ask(number, body, type, what) {
  const headers = type ? { "Content-Type": type } : {};
  try {
    const reply = await fetch("/api/predict", { method: "POST", body, headers });
    const answer = await reply.json();
    if (number !== asked) return; // a newer drawing was sent since
    if (!reply.ok) throw new Error(answer.error || reply.statusText);
    show(answer, what);
  } catch (error) {
    if (number !== asked) return;
    errorLine.textContent = error.message;
  }
  guess.dataset.answered = String(number);
}

function percent(probability) {
  return (100 * probability).toFixed(probability > 0.999 || probability < 0.001 ? 2 : 1) + "%";
}

function show(answer, what) {
  errorLine.textContent = "";
  guess.textContent = String(answer.prediction);
  guess.setAttribute("aria-label", `${answer.prediction} (${answer.label}), ${percent(answer.probability)}`);
  const rows = answer.top_k.map((each) => {
    const row = document.createElement("li");
    const digit = document.createElement("span");
    digit.textContent = String(each.prediction);
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.style.width = `${Math.max(1, 100 * each.probability)}%`;
    const value = document.createElement("span");
    value.className = "value";
    value.textContent = percent(each.probability);
    row.append(digit, bar, value);
    row.setAttribute("aria-label", `${each.prediction} (${each.label}): ${percent(each.probability)}`);
    return row;
  });
  topList.replaceChildren(...rows);
  seen.src = answer.input;
  seen.alt = `The 28 by 28 image the model saw in ${what}`;
  statusLine.textContent = `${what}: ${answer.label}`;
}

function sendPhoto(file) {
  if (!file) return;
  strokes = [];
  redraw();
  const form = new FormData();
  form.append("file", file, file.name);
  ask(nextNumber(), form, null, file.name);
}

photoInput.addEventListener("change", () => {
  sendPhoto(photoInput.files[0]);
  photoInput.value = "";
});
drop.addEventListener("dragover", (event) => {
  event.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  sendPhoto(event.dataTransfer.files[0]);
});

async function describeModel() {
  const line = document.getElementById("model");
  try {
    const info = await (await fetch("/api/info")).json();
    const accuracy = info.test_accuracy == null ? "" : `, test accuracy ${percent(info.test_accuracy)}`;
    line.textContent = `${info.checkpoint}: ${info.model} on ${info.dataset}${accuracy}`;
  } catch (error) {
    line.textContent = `cannot read the model: ${error.message}`;
  }
}

redraw();
describeModel();

// tinysr serve: the page's script. Plain JavaScript, no framework; it talks to the API in README
// ("tinysr serve"): GET /api/models, GET /api/samples, POST /api/upscale, POST /api/inspect.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { models: [], file: null, fileName: "", weights: null, results: {}, scale: 3, zoom: "fit",
                crop: null };

// ---------------------------------------------------------------------------- start-up
async function start() {
  const [models, samples] = await Promise.all([getJSON("/api/models"), getJSON("/api/samples")]);
  state.models = models.models;
  state.limits = models.limits;
  for (const scale of [2, 3, 4]) $("scale").add(new Option(`×${scale}`, scale, false, scale === 3));
  fillModels();
  for (const name of samples.samples) {
    const button = document.createElement("button");
    button.type = "button";
    button.title = name;
    button.innerHTML = `<img src="/api/samples/${name}" alt="${name}">`;
    button.addEventListener("click", async () => {
      const blob = await (await fetch(`/api/samples/${name}`)).blob();
      choose(blob, name);
      document.querySelectorAll(".samples button").forEach((b) => b.classList.toggle("on", b === button));
    });
    $("samples").append(button);
  }
}

async function getJSON(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(await errorText(response));
  return response.json();
}

async function errorText(response) {
  try { return (await response.json()).error; } catch { return `${response.status} ${response.statusText}`; }
}

function fillModels() {
  state.scale = Number($("scale").value);
  for (const [id, fallback] of [["model-left", "bicubic"], ["model-right", "srcnn"]]) {
    const select = $(id);
    const previous = select.value || fallback;
    select.innerHTML = "";
    for (const model of state.models) {
      const shipped = model.scales.includes(state.scale);
      const option = new Option(shipped ? model.name : `${model.name} (not shipped at ×${state.scale})`, model.name);
      option.disabled = !shipped && !(id === "model-right" && state.weights);
      select.add(option);
    }
    select.value = previous;
    if (select.selectedOptions[0]?.disabled) select.value = fallback;
  }
}

// ---------------------------------------------------------------------------- choosing inputs
function choose(blob, name) {
  state.file = blob;
  state.fileName = name;
  $("drop-text").textContent = `${name} (${Math.round(blob.size / 1024)} KiB)`;
  $("go").disabled = false;
  setStatus(`Ready: ${name}. Press Upscale.`);
}

$("file").addEventListener("change", () => { if ($("file").files[0]) choose($("file").files[0], $("file").files[0].name); });
for (const event of ["dragenter", "dragover"]) {
  $("drop").addEventListener(event, (e) => { e.preventDefault(); $("drop").classList.add("over"); });
}
for (const event of ["dragleave", "drop"]) {
  $("drop").addEventListener(event, (e) => { e.preventDefault(); $("drop").classList.remove("over"); });
}
$("drop").addEventListener("drop", (e) => { const f = e.dataTransfer.files[0]; if (f) choose(f, f.name); });
$("scale").addEventListener("change", fillModels);
$("weights").addEventListener("change", () => { state.weights = $("weights").files[0] || null; fillModels(); });

// ---------------------------------------------------------------------------- progress
let ticking = null;
function setStatus(text, kind = "") {
  clearInterval(ticking);
  $("status").textContent = text;
  $("status").className = kind;
}
function busy(text) {
  const started = performance.now();
  setStatus(text, "busy");
  ticking = setInterval(() => {
    $("status").textContent = `${text} ${((performance.now() - started) / 1000).toFixed(0)} s`;
  }, 500);
}

// ---------------------------------------------------------------------------- upscale
function form(model, extra = {}) {
  const data = new FormData();
  data.append("image", state.file, state.fileName);
  data.append("model", model);
  data.append("scale", String(state.scale));
  if ($("pretend").checked) data.append("pretend", "1");
  for (const [key, value] of Object.entries(extra)) data.append(key, value);
  return data;
}

async function upscaleSide(side, model, index) {
  busy(`Upscaling ×${state.scale} with ${model} (${index} of 2)…`);
  const data = form(model);
  if (side === "right" && state.weights) data.append("weights", state.weights, state.weights.name);
  const response = await fetch("/api/upscale", { method: "POST", body: data });
  if (!response.ok) throw new Error(`${model}: ${await errorText(response)}`);
  const blob = await response.blob();
  const psnr = response.headers.get("X-Tinysr-PSNR-Y");
  const ssim = response.headers.get("X-Tinysr-SSIM-Y");
  return { model: state.weights && side === "right" ? `${model} (your weights)` : model, blob,
           url: URL.createObjectURL(blob), psnr: psnr && Number(psnr), ssim: ssim && Number(ssim) };
}

$("go").addEventListener("click", async () => {
  $("go").disabled = true;
  try {
    const left = await upscaleSide("left", $("model-left").value, 1);
    const right = await upscaleSide("right", $("model-right").value, 2);
    show(left, right);
    setStatus(`Done: ${state.fileName} ×${state.scale}, ${left.model} on the left, ${right.model} on the right.`);
  } catch (error) {
    setStatus(error.message, "error");
  } finally {
    $("go").disabled = false;
  }
});

function show(left, right) {
  for (const old of Object.values(state.results)) URL.revokeObjectURL(old.url);
  state.results = { left, right };
  state.crop = null;
  $("crop-box").hidden = true;
  $("result-left").src = left.url;
  $("result-right").src = right.url;
  $("label-left").textContent = left.model;
  $("label-right").textContent = right.model;
  $("download").href = right.url;
  $("download").download = `${state.fileName.replace(/\.[^.]+$/, "")}_x${state.scale}_${$("model-right").value}.png`;
  $("result").hidden = false;
  $("inside").hidden = $("model-right").value === "bicubic";
  $("inspection").innerHTML = "";
  const rows = [left, right].filter((side) => side.psnr !== null);
  $("metrics").hidden = rows.length === 0;
  $("shave").textContent = state.scale;
  $("metrics").tBodies[0].innerHTML = rows.map((side) =>
    `<tr><td>${side.model}</td><td>${side.psnr.toFixed(2)}</td><td>${side.ssim.toFixed(4)}</td></tr>`).join("");
  $("result-right").onload = () => setZoom(state.zoom);
}

// ---------------------------------------------------------------------------- the comparison viewer
$("slider").addEventListener("input", () => {
  $("stage").style.setProperty("--split", `${$("slider").value}%`);
});

function setZoom(zoom) {
  state.zoom = zoom;
  const image = $("result-right");
  $("stage").style.width = zoom === "fit" ? "100%" : `${image.naturalWidth * Number(zoom)}px`;
  document.querySelectorAll("#zoom button").forEach((b) => b.classList.toggle("on", b.dataset.zoom === zoom));
  drawCrop();
}
document.querySelectorAll("#zoom button").forEach((b) => b.addEventListener("click", () => setZoom(b.dataset.zoom)));

// A click on the picture picks the centre of the crop that "inside the network" looks at.
$("stage").addEventListener("click", (event) => {
  const image = $("result-right");
  const box = image.getBoundingClientRect();
  const x = (event.clientX - box.left) / box.width * image.naturalWidth / state.scale;
  const y = (event.clientY - box.top) / box.height * image.naturalHeight / state.scale;
  state.crop = { x, y };
  drawCrop();
});

function drawCrop() {
  const image = $("result-right");
  if (!state.crop || !image.naturalWidth) return;
  const size = Number($("crop-size").value) * state.scale;
  const unit = image.getBoundingClientRect().width / image.naturalWidth;
  const left = Math.min(Math.max(state.crop.x * state.scale - size / 2, 0), image.naturalWidth - size);
  const top = Math.min(Math.max(state.crop.y * state.scale - size / 2, 0), image.naturalHeight - size);
  Object.assign($("crop-box").style, { left: `${left * unit}px`, top: `${top * unit}px`,
                                       width: `${size * unit}px`, height: `${size * unit}px` });
  $("crop-box").hidden = false;
}
$("crop-size").addEventListener("change", drawCrop);

// ---------------------------------------------------------------------------- inside the network
const LAYER_NOTES = {
  ReLU: "After ReLU: every negative response is cut to zero, so dark means 'this filter did not fire'.",
  PReLU: "After PReLU: negative responses are kept but scaled down by a learned slope.",
  Tanh: "After tanh: each response squashed into (-1, 1).",
  Residual: "A residual block's output: its input plus the correction the block learned to add.",
  "PixelShuffle: before the shuffle": "scale² maps per output channel, one per sub-pixel position: the shuffle "
    + "interleaves them into a grid scale times larger.",
  PixelShuffle: "The same values after the shuffle, rearranged into a grid scale times larger.",
};

function noteFor(name) {
  const kind = name.match(/\(([^)]*)\)\s*$/)?.[1] || "";
  return LAYER_NOTES[kind] || "";
}

$("inspect-go").addEventListener("click", async () => {
  const model = $("model-right").value;
  busy(`Looking inside ${model}…`);
  $("inspect-go").disabled = true;
  try {
    const extra = { size: $("crop-size").value };
    if (state.crop) Object.assign(extra, { x: state.crop.x.toFixed(2), y: state.crop.y.toFixed(2) });
    const data = form(model, extra);
    if (state.weights) data.append("weights", state.weights, state.weights.name);
    const response = await fetch("/api/inspect", { method: "POST", body: data });
    if (!response.ok) throw new Error(await errorText(response));
    renderInspection(await response.json());
    setStatus(`Inside ${model}: a ${$("crop-size").value}-pixel crop.`);
  } catch (error) {
    setStatus(error.message, "error");
  } finally {
    $("inspect-go").disabled = false;
  }
});

function figure(src, caption, cls = "") {
  return `<figure class="${cls}"><img src="${src}" alt="${caption.replace(/<[^>]+>/g, "")}">`
    + `<figcaption>${caption}</figcaption></figure>`;
}

function renderInspection(answer) {
  const crops = [figure(answer.input, "<b>input</b>: what the network reads (Y or RGB)"),
                 figure(answer.output, "<b>output</b>: what it makes of it")];
  if (answer.target) crops.push(figure(answer.target, "<b>target</b>: the original, the ground truth"));
  let html = `<p class="explain">Crop at (${answer.crop.x}, ${answer.crop.y}), ${answer.crop.size}×${answer.crop.size}`
    + ` low-resolution pixels.</p><div class="crops">${crops.join("")}</div>`;
  html += `<p class="explain"><b>Feature maps.</b> Each tile is one channel of a layer's output for this crop,`
    + ` stretched from its own minimum (dark) to its maximum (bright): what that filter responds to.</p>`;
  html += `<div class="layers" id="layers">${answer.layers.map((layer) => figure(layer.image,
    `<b>${layer.name}</b>: ${layer.maps} maps, ${layer.width}×${layer.height}, values ${layer.min.toFixed(2)}`
    + ` to ${layer.max.toFixed(2)}. ${noteFor(layer.name)}`)).join("")}</div>`;
  if (answer.input_gradient) {
    html += `<p class="explain"><b>The gradient at the input pixels.</b> Loss: mean squared error against the`
      + ` original, ${answer.loss.toExponential(3)} (${answer.psnr_y_crop.toFixed(2)} dB on this crop).`
      + ` <code>network.backward</code> gives dL/d(input): red where a brighter input pixel would raise the`
      + ` loss, blue where it would lower it.</p><div class="gradient">`
      + figure(answer.input_gradient.image, `largest |dL/dx|: ${answer.input_gradient.max_abs.toExponential(2)}`)
      + `</div>`;
    html += `<p class="explain"><b>The size of each weight's gradient</b>, ‖dL/dW‖ (bars on a log scale), beside`
      + ` the size of the weights ‖W‖: what one training step on this crop would push on.</p>`
      + weightBars(answer.weight_gradients);
  } else {
    html += `<p class="hint">Tick "pretend it was low resolution" and upscale again to see the gradients: they`
      + ` need a ground truth to measure the loss against.</p>`;
  }
  $("inspection").innerHTML = html;
}

function weightBars(gradients) {
  const logs = gradients.map((g) => Math.log10(Math.max(g.grad_norm, 1e-12)));
  const low = Math.min(...logs) - 0.5;
  const high = Math.max(...logs);
  return `<div class="bars" id="weight-gradients">${gradients.map((g, i) =>
    `<span>${g.name} <span class="hint">[${g.shape.join("×")}]</span></span>`
    + `<div class="bar" style="width:${(100 * (logs[i] - low) / (high - low || 1)).toFixed(1)}%"></div>`
    + `<span>${g.grad_norm.toExponential(2)} / ${g.weight_norm.toFixed(2)}</span>`).join("")}</div>`;
}

start().catch((error) => setStatus(`Could not reach the tinysr server: ${error.message}`, "error"));

// gameday's report figures: SVG drawn from the JSON the report embeds, with hover values and
// zoom. No library and no network: the report is one file that must open offline, years later.
// Every time figure shares one x axis (seconds from T0, UTC wall clock under it) and one zoom.
"use strict";
(function () {
  const SVGNS = "http://www.w3.org/2000/svg";
  const LINE_COLOURS = ["#1f5fa8", "#c2410c", "#2f855a", "#6b46c1", "#b7791f", "#0e7490", "#9d174d"];
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const state = { zoom: null };
  const M = { left: 64, right: 34, top: 38, bottom: 46 };

  function el(name, attrs, parent) {
    const node = document.createElementNS(SVGNS, name);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    if (parent) parent.appendChild(node);
    return node;
  }
  function text(parent, x, y, content, attrs) {
    const node = el("text", Object.assign({ x, y }, attrs || {}), parent);
    node.textContent = content;
    return node;
  }
  function pad(n) { return String(n).padStart(2, "0"); }
  // T0 time as the rest of the report writes it: T-00:20, T+01:05.3
  function sinceT0(seconds, decimals) {
    const shown = Number(seconds.toFixed(decimals || 0));
    const sign = shown < 0 ? "-" : "+";
    let rest = Math.abs(shown);
    const hours = Math.floor(rest / 3600); rest -= hours * 3600;
    const minutes = Math.floor(rest / 60); rest -= minutes * 60;
    const secs = decimals ? rest.toFixed(decimals).padStart(3 + decimals, "0") : pad(Math.round(rest));
    return "T" + sign + (hours ? hours + ":" : "") + pad(minutes) + ":" + secs;
  }
  function utcClock(seconds) {
    if (!data.t0Known) return "";
    const d = new Date((data.t0 + seconds) * 1000);
    return pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + ":" + pad(d.getUTCSeconds()) + "Z";
  }
  function formatValue(v, unit) {
    if (v === null || v === undefined) return "no data";
    const abs = Math.abs(v);
    const shown = abs !== 0 && (abs >= 1e6 || abs < 1e-3) ? v.toExponential(2) : String(Number(v.toPrecision(4)));
    return unit ? shown + " " + unit : shown;
  }
  function niceStep(span, wanted) {
    const raw = span / wanted;
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * power >= raw) return m * power;
    return 10 * power;
  }
  function timeStep(span) {
    for (const s of [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200]) if (span / s <= 9) return s;
    return 14400;
  }
  function xRange() { return state.zoom || data.range; }

  // Phase labels above the plot, on two rows: a label goes on the first row where the one
  // before it has ended; when neither has, the earlier one is cut short (its full name stays
  // as a tooltip), so two labels never overlap.
  function phaseLabels(svg, sx, width) {
    const rows = [null, null];
    const right = M.left + width;
    for (const phase of data.phases) {
      const x0 = Math.max(sx(phase.start), M.left), x1 = Math.min(sx(phase.end), right);
      if (x1 < x0 || x0 > right) continue;
      const label = text(svg, x0 + 2, 0, phase.name, { class: "phase-label", "font-size": 10 });
      el("title", {}, label).textContent = phase.name;
      const w = label.getComputedTextLength();
      const x = Math.max(Math.min(x0 + 2, right - w), M.left);  // the last ones end at the edge
      let row = rows.findIndex((r) => r === null || r.end + 4 <= x);
      if (row < 0) {
        row = rows[0].end <= rows[1].end ? 0 : 1;
        shorten(rows[row], x - 4);
      }
      label.setAttribute("x", x);
      label.setAttribute("y", 12 + row * 12);
      rows[row] = { label, name: phase.name, x, end: x + w };
    }
  }
  // Cut a label short (with an ellipsis) until it is at most `room` pixels wide.
  function fit(label, name, room) {
    while (name.length && label.getComputedTextLength() > room) {
      name = name.slice(0, -1);
      label.firstChild.textContent = name ? name + "…" : "";
    }
  }
  function shorten(placed, limit) {
    fit(placed.label, placed.name, limit - placed.x);
    placed.end = placed.x + placed.label.getComputedTextLength();
  }

  function timeAxes(svg, sx, sy, width, height, yTicks, unit) {
    const [x0, x1] = xRange();
    const step = timeStep(x1 - x0);
    const axis = el("g", { class: "x-axis" }, svg);
    for (let t = Math.ceil(x0 / step) * step; t <= x1 + 1e-9; t += step) {
      const x = sx(t);
      el("line", { x1: x, x2: x, y1: M.top, y2: M.top + height, class: "grid" }, axis);
      text(axis, x, M.top + height + 14, sinceT0(t), { "text-anchor": "middle", class: "tick" });
      if (data.t0Known) text(axis, x, M.top + height + 27, utcClock(t), { "text-anchor": "middle", class: "tick utc" });
    }
    text(axis, M.left + width, M.top + height + 41, data.t0Known ? "time from T0 · UTC" : "time from the journal's opening (T0 not reached)", { "text-anchor": "end", class: "axis-title" });
    const yaxis = el("g", { class: "y-axis" }, svg);
    for (const v of yTicks) {
      const y = sy(v);
      el("line", { x1: M.left, x2: M.left + width, y1: y, y2: y, class: "grid" }, yaxis);
      text(yaxis, M.left - 6, y + 3, formatValue(v, ""), { "text-anchor": "end", class: "tick" });
    }
    if (unit) text(yaxis, 12, M.top + height / 2, unit, { transform: `rotate(-90 12 ${M.top + height / 2})`, "text-anchor": "middle", class: "axis-title" });
  }

  function faultBands(svg, sx, height, figure) {
    const [x0, x1] = xRange();
    for (const fault of data.faults) {
      if (!figure.faults.includes(fault.index) || fault.end < x0 || fault.start > x1) continue;
      const a = sx(Math.max(fault.start, x0)), b = sx(Math.min(fault.end, x1));
      const band = el("rect", { x: a, y: M.top, width: Math.max(b - a, 1), height, fill: fault.colour, "fill-opacity": fault.ended ? 0.14 : 0.08, id: `${figure.key}-fault-window-${fault.index}`, class: "fault-window", "data-fault": fault.name }, svg);
      if (!fault.ended) band.setAttribute("stroke", fault.colour), band.setAttribute("stroke-dasharray", "4 3");
      el("title", {}, band).textContent = `${fault.name}: ${fault.what}` + (fault.ended ? "" : " (never ended)");
    }
  }

  function phaseBands(svg, sx, height) {
    const [x0, x1] = xRange();
    data.phases.forEach((phase, i) => {
      if (phase.end < x0 || phase.start > x1) return;
      const a = sx(Math.max(phase.start, x0)), b = sx(Math.min(phase.end, x1));
      el("rect", { x: a, y: M.top, width: Math.max(b - a, 0), height, class: i % 2 ? "phase odd" : "phase" }, svg);
    });
  }

  function t0Marker(svg, sx, height) {
    const [x0, x1] = xRange();
    if (!data.t0Known || 0 < x0 || 0 > x1) return;
    const x = sx(0);
    el("line", { x1: x, x2: x, y1: M.top - 4, y2: M.top + height, class: "t0-marker" }, svg);
    text(svg, x + 3, M.top + 10, "T0", { class: "t0-label" });
  }

  function drawTime(box, figure) {
    const width = Math.max(box.clientWidth, 320) - M.left - M.right;
    const height = 190;
    const svg = el("svg", { width: width + M.left + M.right, height: height + M.top + M.bottom, class: "chart-svg" });
    box.replaceChildren(svg);
    const [x0, x1] = xRange();
    const sx = (t) => M.left + ((t - x0) / (x1 - x0)) * width;
    let top = 0, bottom = 0;
    for (const line of figure.lines) line.y.forEach((v, i) => {
      const t = line.x[i];
      if (v !== null && t >= x0 && t <= x1) { top = Math.max(top, v); bottom = Math.min(bottom, v); }
    });
    for (const th of figure.thresholds) if (th.y !== null) { top = Math.max(top, th.y); bottom = Math.min(bottom, th.y); }
    if (top === bottom) top = bottom + 1;
    const step = niceStep(top - bottom, 4);
    const yMax = Math.ceil((top * 1.08) / step) * step, yMin = Math.floor(bottom / step) * step;
    const sy = (v) => M.top + height - ((v - yMin) / (yMax - yMin)) * height;
    const yTicks = [];
    for (let v = yMin; v <= yMax + step / 2; v += step) yTicks.push(Number(v.toPrecision(10)));
    const clip = `clip-${figure.key}`;
    el("rect", { x: M.left, y: M.top, width, height }, el("clipPath", { id: clip }, el("defs", {}, svg)));
    phaseBands(svg, sx, height);
    timeAxes(svg, sx, sy, width, height, yTicks, figure.unit);
    const plot = el("g", { "clip-path": `url(#${clip})` }, svg);
    faultBands(plot, sx, height, figure);
    for (const shade of figure.shades) {
      const a = sx(shade.start), b = sx(shade.end);
      const r = el("rect", { x: a, y: M.top, width: Math.max(b - a, 1), height, class: shade.kind, "data-slo": shade.slo }, plot);
      el("title", {}, r).textContent = shade.label;
    }
    figure.lines.forEach((line, n) => {
      let d = "", pen = false;
      line.y.forEach((v, i) => {
        if (v === null) { pen = false; return; }
        d += (pen ? "L" : "M") + sx(line.x[i]).toFixed(1) + " " + sy(v).toFixed(1);
        pen = true;
      });
      el("path", { d, class: "series" + (line.run === "B" ? " run-b" : ""), stroke: LINE_COLOURS[n % LINE_COLOURS.length], "data-label": line.label }, plot);
    });
    for (const th of figure.thresholds) {
      if (th.y === null) continue;
      const y = sy(th.y);
      el("line", { x1: M.left, x2: M.left + width, y1: y, y2: y, class: "threshold", "data-slo": th.slo, "data-status": th.status }, plot);
      text(plot, M.left + width - 4, y - 4, th.label, { "text-anchor": "end", class: "threshold-label" });
    }
    for (const marker of figure.markers) {
      const x = sx(marker.x);
      el("line", { x1: x, x2: x, y1: M.top, y2: M.top + height, class: "marker" }, plot);
      text(plot, x + 3, M.top + height - 6, marker.label, { class: "marker-label" });
    }
    t0Marker(svg, sx, height);
    phaseLabels(svg, sx, width);
    interact(box, svg, figure, sx, width, height);
  }

  // Hover: a crosshair and each line's value at that moment, with the faults then active.
  // Drag: zoom every time figure to the span; double-click: back to the whole run.
  function interact(box, svg, figure, sx, width, height) {
    const tip = box.parentElement.querySelector(".tooltip");
    const cross = el("line", { y1: M.top, y2: M.top + height, class: "crosshair", visibility: "hidden" }, svg);
    const band = el("rect", { y: M.top, height, class: "zoom-band", visibility: "hidden" }, svg);
    const overlay = el("rect", { x: M.left, y: M.top, width, height, class: "overlay" }, svg);
    const [x0, x1] = xRange();
    const toTime = (px) => x0 + ((px - M.left) / width) * (x1 - x0);
    let dragFrom = null;
    const local = (event) => event.clientX - svg.getBoundingClientRect().left;
    overlay.addEventListener("mousemove", (event) => {
      const px = local(event), t = toTime(px);
      cross.setAttribute("x1", px); cross.setAttribute("x2", px); cross.setAttribute("visibility", "visible");
      const rows = [`<b>${sinceT0(t, 1)}</b> ${utcClock(t)}`];
      for (const line of figure.lines) {
        let best = -1, gap = Infinity;
        line.x.forEach((x, i) => { const g = Math.abs(x - t); if (g < gap) { gap = g; best = i; } });
        if (best >= 0) rows.push(`${line.label}: <b>${formatValue(line.y[best], figure.unit)}</b>`);
      }
      const active = data.faults.filter((f) => figure.faults.includes(f.index) && f.start <= t && t <= f.end);
      for (const f of active) rows.push(`<span style="color:${f.colour}">■</span> ${f.name}: ${f.what}`);
      tip.innerHTML = rows.join("<br>");
      tip.hidden = false;
      tip.style.left = Math.min(px + 12, box.clientWidth - 260) + "px";
      tip.style.top = (M.top + 4) + "px";
      if (dragFrom !== null) {
        band.setAttribute("x", Math.min(dragFrom, px)); band.setAttribute("width", Math.abs(px - dragFrom));
        band.setAttribute("visibility", "visible");
      }
    });
    overlay.addEventListener("mouseleave", () => { cross.setAttribute("visibility", "hidden"); tip.hidden = true; });
    overlay.addEventListener("mousedown", (event) => { dragFrom = local(event); event.preventDefault(); });
    overlay.addEventListener("mouseup", (event) => {
      const px = local(event);
      if (dragFrom !== null && Math.abs(px - dragFrom) > 6) zoomTo(toTime(Math.min(dragFrom, px)), toTime(Math.max(dragFrom, px)));
      dragFrom = null; band.setAttribute("visibility", "hidden");
    });
    overlay.addEventListener("dblclick", () => zoomTo(null));
  }

  function zoomTo(start, end) {
    state.zoom = start === null ? null : [start, end];
    document.querySelectorAll(".zoom-reset").forEach((b) => (b.hidden = state.zoom === null));
    drawAll();
  }

  function drawTimeline(box, figure) {
    const width = Math.max(box.clientWidth, 320) - M.left - M.right - 90;
    const left = M.left + 90;
    const rows = data.faults.length || 1;
    const height = rows * 24 + 8;
    const svg = el("svg", { width: width + left + M.right, height: height + M.top + M.bottom, class: "chart-svg" });
    box.replaceChildren(svg);
    const [x0, x1] = xRange();
    const sx = (t) => left + ((t - x0) / (x1 - x0)) * width;
    const saved = M.left; M.left = left;
    phaseBands(svg, sx, height);
    timeAxes(svg, sx, () => 0, width, height, [], "");
    data.faults.forEach((fault, i) => {
      const y = M.top + 6 + i * 24;
      text(svg, left - 6, y + 13, fault.name, { "text-anchor": "end", class: "tick" });
      const a = sx(Math.max(fault.start, x0)), b = sx(Math.min(fault.end, x1));
      if (b < left || a > left + width) return;
      const bar = el("rect", { x: a, y, width: Math.max(b - a, 2), height: 16, fill: fault.colour, "fill-opacity": fault.ended ? 0.85 : 0.45, id: `timeline-fault-window-${fault.index}`, class: "fault-window", "data-fault": fault.name }, svg);
      el("title", {}, bar).textContent = `${fault.name}: ${fault.what}, ${sinceT0(fault.start, 1)} → ${fault.ended ? sinceT0(fault.end, 1) : "never ended"}`;
      const label = text(svg, a + 4, y + 12, fault.what, { class: "bar-label" });
      fit(label, fault.what, b - a - 8);
    });
    for (const marker of figure.markers) {  // stack components that exited by themselves
      if (marker.x < x0 || marker.x > x1) continue;
      const x = sx(marker.x);
      const line = el("line", { x1: x, x2: x, y1: M.top, y2: M.top + height, class: "marker component-exit", "data-exit": marker.label }, svg);
      el("title", {}, line).textContent = `${marker.label} at ${sinceT0(marker.x, 1)}`;
      text(svg, x + 3, M.top + height - 2, marker.label, { class: "marker-label" });
    }
    t0Marker(svg, sx, height);
    phaseLabels(svg, sx, width);
    M.left = saved;
  }

  function drawBars(box, figure) {
    const width = Math.max(box.clientWidth, 320) - M.left - M.right;
    const height = 170;
    const svg = el("svg", { width: width + M.left + M.right, height: height + 30 + 60, class: "chart-svg" });
    box.replaceChildren(svg);
    const n = figure.bars.length;
    const top = Math.max(...figure.bars.map((b) => b.value), 1);
    const step = niceStep(top, 4), yMax = Math.ceil((top * 1.08) / step) * step;
    const bw = width / n;
    const sy = (v) => 20 + height - (v / yMax) * height;
    for (let v = 0; v <= yMax + step / 2; v += step) {
      el("line", { x1: M.left, x2: M.left + width, y1: sy(v), y2: sy(v), class: "grid" }, svg);
      text(svg, M.left - 6, sy(v) + 3, formatValue(v, ""), { "text-anchor": "end", class: "tick" });
    }
    const tip = box.parentElement.querySelector(".tooltip");
    figure.bars.forEach((bar, i) => {
      const x = M.left + i * bw;
      const rect = el("rect", { x: x + bw * 0.1, y: sy(bar.value), width: bw * 0.8, height: sy(0) - sy(bar.value), class: "bar" }, svg);
      rect.addEventListener("mousemove", () => {
        tip.innerHTML = `${bar.label}: <b>${formatValue(bar.value, figure.unit)}</b>`;
        tip.hidden = false; tip.style.left = Math.min(x, box.clientWidth - 200) + "px"; tip.style.top = "20px";
      });
      rect.addEventListener("mouseleave", () => (tip.hidden = true));
      text(svg, x + bw / 2, 20 + height + 14, bar.label, { "text-anchor": "end", transform: `rotate(-40 ${x + bw / 2} ${20 + height + 14})`, class: "tick" });
    });
    for (const marker of figure.markers) {
      const x = M.left + (marker.x + 0.5) * bw;
      el("line", { x1: x, x2: x, y1: 16, y2: 20 + height, class: "marker" }, svg);
      text(svg, x + 3, 14, marker.label, { class: "marker-label" });
    }
    text(svg, 12, 20 + height / 2, figure.unit, { transform: `rotate(-90 12 ${20 + height / 2})`, "text-anchor": "middle", class: "axis-title" });
  }

  const DRAW = { time: drawTime, timeline: drawTimeline, bars: drawBars };
  function drawAll() {
    for (const figure of data.figures) {
      if (figure.noData) continue;
      const box = document.querySelector(`figure[data-plot="${figure.key}"] .chart`);
      if (box) DRAW[figure.kind](box, figure);
    }
  }
  document.querySelectorAll(".zoom-reset").forEach((b) => b.addEventListener("click", () => zoomTo(null)));
  let pending = null;
  window.addEventListener("resize", () => { clearTimeout(pending); pending = setTimeout(drawAll, 120); });
  drawAll();
  document.documentElement.dataset.drawn = "true";
})();

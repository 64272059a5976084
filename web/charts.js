/* Sugarcast pages: the statistics charts (uPlot, bundled from npm at build
 * time). chart(container, label, points, series): points are the stats
 * route's [{t, …}], series [{key, label, color}]; one line per series over
 * time. Redraws in place when called again with the same container. */
'use strict';

function chart(container, label, points, series) {
  const data = [points.map((p) => p.t / 1000), ...series.map((s) => points.map((p) => p[s.key] ?? null))];
  const width = Math.max(240, container.clientWidth || 600);
  if (container._plot && container._plot.series.length === series.length + 1) {
    container._plot.setData(data);
    if (container._plot.width !== width)
      container._plot.setSize({ width, height: 200 });
    return container._plot;
  }
  if (container._plot)
    container._plot.destroy();
  container.setAttribute('role', 'img');
  container.setAttribute('aria-label', label);
  if (!window.uPlot) {
    container.textContent = 'Charts need uPlot, which this server was built without.';
    return null;
  }
  container._plot = new uPlot({
    width,
    height: 200,
    axes: [{ stroke: '#ccc', grid: { stroke: '#333' } }, { stroke: '#ccc', grid: { stroke: '#333' } }],
    series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 2 }))],
  }, data, container);
  return container._plot;
}

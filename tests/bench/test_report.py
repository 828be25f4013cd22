"""The report: self-contained HTML rendered in headless Chromium (no console errors, no
request leaves the file, every figure decoded), markdown, and the vc.pl figures."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

import virtualcell as vc


@pytest.fixture
def toy_run(toy, tmp_path):
    return vc.bench.run(
        "quick", out=tmp_path / "out", tasks=["toy"], exclude=["zero"], n_jobs=1,
        figures=vc.pl.bench_figures,
    )  # fmt: skip


def test_html_is_self_contained(toy_run):
    html = toy_run.report_html.read_text()
    # no external resource of any kind: no src/href to http(s) or protocol-relative URLs
    assert not re.search(r"""(src|href)\s*=\s*["'](https?:)?//""", html)
    assert "<script" not in html and "<link" not in html
    images = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,', html)
    assert images == ["toy_leaderboard", "toy_heatmap", "toy_runtime"]
    for name in images:
        assert (toy_run.out / "figures" / f"{name}.png").stat().st_size > 5000
    # the leaderboard: reference baseline, marks, excluded baseline, failures, n/a, skipped
    assert "Reference baseline: <b>mean</b>" in html
    assert 'class="mark-up">▲' in html
    assert "Baselines excluded by the user:</b> zero" in html
    assert "broken on purpose" in html and "only on split a" in html
    assert "surely_not_a_module_xyz" in html  # the missing peer, with the reason
    md = toy_run.report_md.read_text()
    assert "| good | virtualcell |" in md and "![toy_heatmap](figures/toy_heatmap.png)" in md
    # ranked among the full-coverage methods; picky (split a only) within its own groups,
    # against the reference's mean on those groups; which methods met on which groups
    assert "| 1 | good | virtualcell | 0.628 ± 0.007 | mean 0.527 | +21.2% |" in md
    assert "| (1 of 3 on its groups) | picky | virtualcell | 0.617 ± 0.007 † | mean 0.517 |" in md
    assert (
        "- on 4 of 8 groups (d1/a, d2/a, d3/a, d4/a), reference mean: ranked picky "
        "(against good, mean on the same groups)" in md
    )
    assert "norm = (mean - ref) / (1 - ref)" in md and "ranked picky" in html


def test_report_renders_in_headless_chromium(toy_run, tmp_path):
    from _chromium import chromium_path, render

    if chromium_path() is None:
        pytest.skip("Debian chromium is not installed (make install adds it as root via apt-get)")
    page = render(toy_run.report_html)
    assert page.errors == [], page.errors
    assert all(u.startswith(("file:", "data:")) for u in page.requests), page.requests
    assert page.title == "virtualcell benchmark — quick"
    assert [i["alt"] for i in page.images] == ["toy_leaderboard", "toy_heatmap", "toy_runtime"]
    assert all(i["complete"] and i["width"] > 300 and i["height"] > 150 for i in page.images)
    assert "Leaderboard" in page.text and "good" in page.text
    shot = tmp_path / "report.png"
    shot.write_bytes(page.screenshot)
    assert page.screenshot[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    if os.environ.get("VC_REPORT_SCREENSHOT"):  # docs: save the picture of a real report
        Path(os.environ["VC_REPORT_SCREENSHOT"]).write_bytes(page.screenshot)


def test_figures_follow_the_plot_contract(toy_run, toy, tmp_path):
    import numpy as np
    from matplotlib.figure import Figure

    t = toy_run.table
    fig = vc.pl.bench_leaderboard(t, task="toy", metric="score", reference="mean", scale="raw",
                                  path=tmp_path / "lb.png")  # fmt: skip
    assert isinstance(fig, Figure) and (tmp_path / "lb.png").stat().st_size > 5000
    ax = fig.axes[0]
    labels = [tick.get_text() for tick in ax.get_yticklabels()]
    assert labels[-1] == "good" and set(labels) == {"mean", "good", "picky"}  # best on top
    widths = {lab: p.get_width() for lab, p in zip(labels, ax.patches, strict=False)}
    assert widths["good"] == pytest.approx(0.6275)
    # normalised (the report's): the leaderboard's norm, % of the headroom above the
    # reference's mean on the same groups; picky (split a only) below, marked
    fig = vc.pl.bench_leaderboard(t, task="toy", metric="score", bound=1.0, reference="mean")
    ax = fig.axes[0]
    labels = [tick.get_text() for tick in ax.get_yticklabels()]
    widths = {lab: p.get_width() for lab, p in zip(labels, ax.patches, strict=False)}
    assert labels == ["picky † (4/8)", "mean", "good"]
    assert widths["good"] == pytest.approx(100 * 0.1 / (1 - 0.5275))
    on_a = np.mean([b + 0.005 for b in toy.BASE.values()])
    assert widths["picky † (4/8)"] == pytest.approx(100 * 0.1 / (1 - on_a))
    assert widths["mean"] == pytest.approx(0.0)
    board, _ = vc.bench.leaderboard(t, toy.TOY)
    assert widths["good"] == pytest.approx(
        100 * board.set_index("method").loc["good", "score_norm"]
    )
    heat = vc.pl.bench_heatmap(t, task="toy", metric="score")
    assert len(heat.axes[0].get_xticklabels()) == 8  # d1/a, d1/b, ..., d4/b
    with pytest.raises(vc.ValidationError, match="no 'nope' results"):
        vc.pl.bench_runtime(t, task="toy", metric="nope")


def test_report_is_rewritten_from_a_finished_run(toy, tmp_path, capsys):
    from virtualcell.cli import main

    out = tmp_path / "plain"
    vc.bench.run("quick", out=out, tasks=["toy"], n_jobs=1)  # no figures
    before = (out / "report.html").read_text()
    assert "data:image/png" not in before and "Leaderboard" in before
    assert main(["bench", "--out", str(out), "--report-only"]) == 0
    after = (out / "report.html").read_text()
    assert after.count("data:image/png;base64,") == 3
    table = before.split("<h3>Leaderboard</h3>")[1].split("</table>")[0]
    assert table in after  # the same leaderboard, now with the figures
    with pytest.raises(vc.ValidationError, match="no benchmark results"):
        vc.bench.report(tmp_path / "nothing")

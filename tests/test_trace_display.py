"""A trace shown inside another page (Jupyter's dark or light theme, the web app) keeps its style to itself."""

from __future__ import annotations

import re

from visorch.programs.trace_html import ROOT_CLASS


def test_inline_trace_scopes_every_style_rule_and_sets_its_own_colours(builtin_runtime, bus_path) -> None:
    inputs = builtin_runtime.load_inputs({"IMAGE": bus_path})
    trace = builtin_runtime.run_program("ANSWER0=EVAL(expr='1 + 1')\nFINAL=RESULT(var=ANSWER0)", inputs)
    fragment = trace._repr_html_()
    assert fragment.startswith(f"<div class='{ROOT_CLASS}'>") and "<body" not in fragment
    style = re.search(r"<style>(.*?)</style>", fragment, re.S).group(1)
    selectors = [selector.strip() for rule in re.findall(r"([^{}]+)\{", style) for selector in rule.split(",")]
    assert selectors and all(selector.startswith(f".{ROOT_CLASS}") for selector in selectors)
    root_rule = re.search(rf"\.{ROOT_CLASS}\{{([^}}]*)\}}", style).group(1)
    assert "background:" in root_rule and "color:" in root_rule  # not the notebook theme's colours
    page = trace.to_html()
    assert page.startswith("<!DOCTYPE html>") and fragment in page

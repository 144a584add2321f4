"""Ask the agent a question about ultralytics' bus.jpg and save the answer's visual trace.

Run: .venv/bin/python examples/ask_bus.py ["your question"]
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from visorch import Agent


def bus_image() -> Path:
    """ultralytics ships bus.jpg inside its package."""
    spec = importlib.util.find_spec("ultralytics")
    assert spec is not None and spec.origin is not None, "install visorch[detection] for the demo image"
    return Path(spec.origin).parent / "assets" / "bus.jpg"


def main() -> None:
    question = sys.argv[1] if len(sys.argv) > 1 else "How many people are in the picture?"
    with Agent() as agent:
        for event in agent.stream(image=bus_image(), question=question):
            if event.event == "planned":
                print(f"program (round {event.data['round']}):\n{event.data['program']}\n")
            elif event.event == "verdict":
                print(f"verdict: {event.data['verdict']} ({event.data['reason']})")
            elif event.answer is not None:
                answer = event.answer
                print(f"\nQ: {question}\nA: {answer.text}   [{answer.stop_reason}]")
                for box in answer.boxes:
                    print(f"   grounded on {box.label} {box.score} at {box.box}")
                print(f"trace: {answer.save_html('bus-answer.html')}")


if __name__ == "__main__":
    main()

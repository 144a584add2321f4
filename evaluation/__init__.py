"""The evaluation harness: tasks (detect, ocr, asr, qa, pope), the question set, metrics and reports.

Run one with :func:`run_evaluation`; the CLI mounts :func:`visorch.evaluation.cli.make_eval_command`.
"""

from visorch.evaluation.predictors import Answerer, EvaluationRuntime
from visorch.evaluation.questions import Question, load_questions
from visorch.evaluation.runner import build_predictor, run_evaluation
from visorch.evaluation.summary import Summary
from visorch.evaluation.tasks import create_task, task_names

__all__ = [
    "Answerer",
    "EvaluationRuntime",
    "Question",
    "Summary",
    "build_predictor",
    "create_task",
    "load_questions",
    "run_evaluation",
    "task_names",
]

"""The LLM roles: controller (plans programs), decision-maker (verdicts), semantic refiner (answers)."""

"""The backend of each agent role: the planner's, or a smaller model named for the decision-maker or refiner.

``LLMSettings.roles`` names a model per role; every role without one uses the agent's main backend.
Roles that name the same model share one backend, so that model loads once (lazily, on its first
call) and is released with the others by :meth:`RoleBackends.close`.
"""

from __future__ import annotations

from pathlib import Path

from visorch.llm.base import LLMBackend
from visorch.llm.errors import LLMConfigError
from visorch.llm.llama_cpp_backend import pack_gguf_path
from visorch.llm.settings import LLMSettings, RoleName, create_backend
from visorch.tools.errors import MissingWeightsError


class RoleBackends:
    """One backend per distinct model, looked up by role; the main backend for roles without a model."""

    def __init__(self, main: LLMBackend, settings: LLMSettings, weights_root: Path | None = None) -> None:
        self.main = main
        self._by_model: dict[str, LLMBackend] = {}
        self._by_role: dict[str, LLMBackend] = {}
        for role, model in settings.roles.items():
            resolved = _resolved_model(settings, model, weights_root)
            if resolved not in self._by_model:
                role_settings = settings.model_copy(update={"model": resolved, "roles": {}})
                self._by_model[resolved] = create_backend(role_settings)
            self._by_role[role] = self._by_model[resolved]

    @classmethod
    def of(cls, main: LLMBackend, backends: dict[RoleName, LLMBackend]) -> RoleBackends:
        """Roles on backends built elsewhere (a server client, a test double); closed with the others."""
        roles = cls(main, LLMSettings(roles={}))
        for role, backend in backends.items():
            roles._by_model.setdefault(str(id(backend)), backend)
            roles._by_role[role] = backend
        return roles

    def for_role(self, role: RoleName) -> LLMBackend:
        """The backend ``role`` calls."""
        return self._by_role.get(role, self.main)

    @property
    def models(self) -> dict[str, str]:
        """Role -> the model it runs on, for the roles with a model of their own."""
        return {role: backend.model for role, backend in self._by_role.items()}

    def close(self) -> None:
        """Release the roles' own models (the main backend is its owner's to close)."""
        for backend in self._by_model.values():
            backend.close()


def _resolved_model(settings: LLMSettings, model: str, weights_root: Path | None) -> str:
    if not model.strip():
        raise LLMConfigError("an empty model name in llm.roles; name a GGUF path or an offline pack model")
    if settings.backend != "llama-cpp":
        return model
    path = pack_gguf_path(model, weights_root)
    if not path.is_file():
        raise MissingWeightsError(
            f"llm.roles names {model!r}, but there is no GGUF file at {path}; run `visorch models install-offline "
            f"{model}` for an offline pack model, or give the path of a GGUF file"
        )
    return str(path)

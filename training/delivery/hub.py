"""Push an exported model folder to the Hugging Face hub with the user's token (`export-model … --push-to USER/NAME`):
huggingface_hub's own `create_repo` and `upload_folder`, so the folder lands as the user would push it by hand. The
tests mock only the network edge (huggingface_hub's HTTP client), never this code path."""
from __future__ import annotations

import os
from pathlib import Path

from training.errors import HeadStartError


def push_model(folder: Path, repo_id: str, token: str | None = None, private: bool = True) -> str:
    """Create (or reuse) the model repository `repo_id` and upload the folder in one commit; returns the repository's
    address. The token: `token`, else HF_TOKEN. Errors say what the hub answered, never the token."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    from training.delivery.predict import META
    from training.service.policy import redact

    folder = Path(folder)
    if not (folder / META).is_file():
        raise HeadStartError(f"{folder} is not a folder export-model wrote (it has no {META})")
    if "/" not in repo_id or repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise HeadStartError(f"--push-to takes a repository as USER/NAME (or ORG/NAME), got {repo_id!r}")
    token = token or os.environ.get("HF_TOKEN")
    if not token:
        raise HeadStartError("pushing to the Hugging Face hub needs a write token: set HF_TOKEN (huggingface.co/settings/"
                             "tokens)")
    api = HfApi(token=token)
    try:
        url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        api.upload_folder(repo_id=repo_id, folder_path=str(folder), repo_type="model",
                          commit_message=f"Head Start: {folder.name}")
    except HfHubHTTPError as e:
        raise HeadStartError(f"the hub refused the push to {repo_id}: {redact(str(e)).replace(token, '…')}") from None
    return str(url)

"""An OpenAI-compatible server over a tiny randomly initialised GPT-2, for tests.

It serves ``/v1/chat/completions`` and ``/v1/models`` on 127.0.0.1 with a real uvicorn
server in a thread. The model is a 2-layer GPT-2 built from a config (no download) with a
byte-level BPE tokenizer trained here on a few hundred words, so its free text is
garbage. With ``response_format`` json_schema it decodes under the schema: the JSON
structure is forced and every free choice (which enum value, how many items, the words of
a free string) comes from the model's logits restricted to what the schema allows.

Knobs on :class:`ServerState`: ``mode`` (constrained | garbage | scripted), ``delay_s``,
``api_key``, ``reject_response_format``; every request body is recorded.

    python tests/llm/tiny_llm_server.py --port 8765
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import torch
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import GPT2Config, GPT2LMHeadModel

from dxkit.models.llm import LLMClient, LLMSettings

MODEL_NAME = "tiny-random-gpt2"
CORPUS = (
    "fever cough chest pain breathless rash headache nausea vomiting diarrhoea abdominal "
    "pain dizziness fatigue sore throat the patient has a history of asthma diabetes "
    "hypertension pneumonia influenza migraine appendicitis myocardial infarction "
    '{ } [ ] : , " condition ranking additions evidence follow up questions sentences '
    "发热 咳嗽 胸痛 头痛 恶心 呕吐 腹泻 腹痛 头晕 乏力 咽痛"
)


class TinyLM:
    """Tokenizer + random GPT-2 and the two ways of decoding with them."""

    def __init__(self, seed: int = 0) -> None:
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        )
        tok.train_from_iterator([CORPUS] * 20, trainer)
        self.tok = tok
        torch.manual_seed(seed)
        config = GPT2Config(
            vocab_size=tok.get_vocab_size(),
            n_positions=512,
            n_embd=32,
            n_layer=2,
            n_head=2,
            bos_token_id=0,
            eos_token_id=0,
        )
        self.model = GPT2LMHeadModel(config).eval()
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        words = [i for i in range(tok.get_vocab_size()) if tok.decode([i]).strip().isalpha()]
        self.word_ids = torch.tensor(words)

    def _logits(self, text: str) -> torch.Tensor:
        ids = self.tok.encode(text).ids[-256:] or [0]
        with torch.no_grad():
            out = self.model(torch.tensor([ids]))
        return out.logits[0, -1]  # (vocab,)

    def free_text(self, prompt: str, n_tokens: int = 16) -> str:
        """Unconstrained sampling: what a random model says (garbage)."""
        text = prompt
        new: list[int] = []
        for _ in range(n_tokens):
            probs = torch.softmax(self._logits(text), dim=-1)
            new.append(
                int(
                    torch.multinomial(
                        probs, 1, generator=torch.Generator().manual_seed(self.rng.randrange(2**31))
                    )
                )
            )
            text = prompt + self.tok.decode(new)
        return self.tok.decode(new)

    def choose(self, prefix: str, options: list[str]) -> str:
        """The option whose first token the model scores highest after ``prefix``."""
        logits = self._logits(prefix)
        scores = [
            float(logits[self.tok.encode(o).ids[0]]) + self.rng.random() * 1e-3 for o in options
        ]
        return options[max(range(len(options)), key=scores.__getitem__)]

    def words(self, prefix: str, n_words: int) -> str:
        """A free string: word-like tokens only, chosen by the model."""
        out: list[str] = []
        for _ in range(n_words):
            logits = self._logits(prefix + " ".join(out))[self.word_ids]
            out.append(self.tok.decode([int(self.word_ids[int(logits.argmax())])]).strip())
        return " ".join(out)

    def constrained(self, prompt: str, schema: dict[str, Any]) -> str:
        """A JSON instance of ``schema`` with the free choices made by the model."""
        buf: list[str] = []

        def emit(text: str) -> None:
            buf.append(text)

        def fill(node: dict[str, Any], taken: set[str] | None = None) -> None:
            kind = node.get("type")
            prefix = prompt[-400:] + "".join(buf)
            if "enum" in node:
                options = [o for o in node["enum"] if o not in (taken or set())] or node["enum"]
                choice = self.choose(prefix, options)
                if taken is not None:
                    taken.add(choice)
                emit(json.dumps(choice, ensure_ascii=False))
            elif kind == "object":
                emit("{")
                for i, (key, sub) in enumerate(node["properties"].items()):
                    emit(("," if i else "") + json.dumps(key) + ":")
                    fill(sub, taken if "enum" in sub else None)
                emit("}")
            elif kind == "array":
                low = node.get("minItems", 0)
                high = min(node.get("maxItems", low + 3), low + 3)
                count = int(self.choose(prefix, [str(k) for k in range(low, high + 1)]))
                seen: set[str] = set()  # ranked conditions stay distinct
                emit("[")
                for i in range(count):
                    emit("," if i else "")
                    fill(node["items"], seen)
                emit("]")
            elif kind == "string":
                emit(json.dumps(self.words(prefix, 3) or "x"))
            elif kind == "boolean":
                emit("false")
            else:
                emit("0")

        with self.lock:
            fill(schema)
        return "".join(buf)


@dataclass
class ServerState:
    """Test knobs and the record of what the server received."""

    mode: str = "constrained"
    delay_s: float = 0.0
    api_key: str | None = None
    reject_response_format: bool = False
    scripted: str = ""
    bodies: list[str] = field(default_factory=list)

    def reset(self) -> None:
        """Back to the defaults (between tests)."""
        self.__init__()  # type: ignore[misc]


def build_app(lm: TinyLM, state: ServerState) -> FastAPI:
    """The FastAPI app: chat completions, model list, and a non-OpenAI HTML page."""
    app = FastAPI()

    @app.get("/v1/models")
    def list_models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": MODEL_NAME, "object": "model"}]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> JSONResponse:
        raw = (await request.body()).decode("utf-8", "replace")
        state.bodies.append(raw)
        auth = request.headers.get("authorization")
        if state.api_key is not None and auth != f"Bearer {state.api_key}":
            return JSONResponse({"error": {"message": "invalid api key"}}, status_code=401)
        body = json.loads(raw)
        fmt = body.get("response_format")
        if fmt and state.reject_response_format:
            return JSONResponse({"error": {"message": "response_format unsupported"}}, 400)
        if state.delay_s:
            await _sleep(state.delay_s)
        prompt = "\n".join(m["content"] for m in body["messages"])
        if state.mode == "scripted":
            content = state.scripted
        elif state.mode == "constrained" and fmt and fmt.get("type") == "json_schema":
            schema = fmt["json_schema"]["schema"]
            content = await run_in_threadpool(lm.constrained, prompt, schema)
        else:
            content = await run_in_threadpool(lm.free_text, prompt)
        return JSONResponse(_completion(content))

    @app.post("/html/v1/chat/completions")
    def html_page() -> HTMLResponse:
        return HTMLResponse("<html><body>Welcome to the intranet</body></html>")

    return app


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


def _completion(content: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{time.time_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": MODEL_NAME,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


def make_client(url: str, **settings: Any) -> LLMClient:
    """A dxkit client for ``url`` with test-sized settings."""
    return LLMClient(LLMSettings(base_url=url, model=MODEL_NAME, **settings))


def free_port() -> int:
    """A port that was free a moment ago (closed again: also a dead endpoint)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerThread:
    """uvicorn serving the app in a daemon thread; ``url`` is the /v1 base URL."""

    def __init__(self, state: ServerState | None = None, lm: TinyLM | None = None) -> None:
        self.state = state or ServerState()
        self.port = free_port()
        app = build_app(lm or TinyLM(), self.state)
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.root}/v1"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("tiny LLM server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description="tiny OpenAI-compatible test server")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--mode", default="constrained")
    args = parser.parse_args()
    state = ServerState(mode=args.mode)
    uvicorn.run(build_app(TinyLM(), state), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()

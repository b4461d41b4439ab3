"""A stand-in for ``vllm serve`` on a CPU: the GPU check's dry run (``DRY_RUN=1 gpu_check.sh``).

``python standin.py serve MODEL [vllm serve options]`` checks, with vLLM's own code, what
does not need a GPU, then serves what the driver (``replay.py``) reads:

- **the server's options**: parsed by vLLM's ``serve`` parser (``make_arg_parser``,
  ``validate_parsed_serve_args``, the positional model as ``vllm serve`` takes it) and
  turned into the engine configuration on vLLM's CPU platform
  (``EngineArgs.create_engine_config``): the model's config file is read, a
  ``--scheduler-cls`` is resolved by vLLM's qualified-name resolver, and the plug-in
  reads its settings from ``--additional-config`` (``PluginConfig``); any error stops it
  before it listens, as it would stop ``vllm serve``;
- **every request**: validated as vLLM's ``CompletionRequest`` (a key vLLM does not know
  is refused here, where vLLM would only log it), turned into ``SamplingParams`` as vLLM's
  server does, and its program id read as vLLM's serving layer reads it (body
  ``session_id``, the ``X-Session-ID`` header, ``vllm_xargs``); the plug-in's parser
  must find the same program id in what the scheduler would get.

It answers ``/health``, ``/metrics`` (``vllm:prefix_cache_queries`` and
``vllm:prefix_cache_hits``) and ``/v1/completions`` with random token ids and the prompt's
longest prefix already seen, in whole 16-token blocks, as cached. No model runs: the
figures a dry run prints are not measurements.
"""

from __future__ import annotations

import random
import sys
from typing import Any


def engine_config(argv: list[str]) -> tuple[Any, Any]:
    """Parse ``vllm serve`` options as vLLM does; return ``(args, VllmConfig)``.

    ``argv`` starts with ``serve``. The configuration is built on vLLM's CPU platform
    (what changes on a GPU is the device, not the parsing).
    """
    from vllm import platforms
    from vllm.platforms.cpu import CpuPlatform

    if platforms.current_platform.is_unspecified():
        platforms.current_platform = CpuPlatform()
    from vllm.engine.arg_utils import AsyncEngineArgs
    from vllm.entrypoints.common.cli_args import make_arg_parser, validate_parsed_serve_args
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    if not argv or argv[0] != "serve":
        raise SystemExit("usage: standin.py serve MODEL [vllm serve options]")
    args = make_arg_parser(FlexibleArgumentParser()).parse_args(argv[1:])
    validate_parsed_serve_args(args)
    if getattr(args, "model_tag", None) is not None:
        args.model = args.model_tag  # as vllm serve's ServeSubcommand does
    config = AsyncEngineArgs.from_cli_args(args).create_engine_config()
    return args, config


class StandIn:
    """The endpoints, with cached-prefix accounting and every request checked."""

    def __init__(self, block_size: int = 16, seed: int = 0) -> None:
        self.block_size = block_size
        self.seen: list[list[int]] = []
        self.queries = 0
        self.hits = 0
        self.requests: list[tuple[dict[str, str], dict[str, Any], list[int]]] = []
        self.rng = random.Random(seed)

    @staticmethod
    def check(body: dict[str, Any], headers: dict[str, str]) -> tuple[Any, str | None]:
        """``body`` through vLLM's request model: its ``SamplingParams`` and session id.

        Raises
        ------
        ValueError
            On a key vLLM's ``CompletionRequest`` does not know, a body it refuses, or a
            program id the plug-in would not read back.
        """
        from vllm.entrypoints.generate.base.serving import GenerateBaseServing
        from vllm.entrypoints.openai.completion.protocol import CompletionRequest

        from sagacore_vllm.client import ProgramMetadata

        unknown = sorted(set(body) - set(CompletionRequest.model_fields))
        if unknown:
            raise ValueError(f"keys vLLM's CompletionRequest does not know: {unknown}")
        req = CompletionRequest.model_validate(body)

        class _Raw:
            def __init__(self, h: dict[str, str]) -> None:
                self.headers = h

        session = GenerateBaseServing._get_session_id(req, _Raw(headers))
        params = req.to_sampling_params(int(body["max_tokens"]), {})
        if session is not None:
            meta = ProgramMetadata.parse("r", session, params.extra_args)
            if meta.program_id != session:
                raise ValueError(f"the plug-in reads program {meta.program_id!r}, "
                                 f"vLLM session {session!r}")
        return params, session

    def complete(self, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        """One ``/v1/completions`` answer (after :meth:`check`)."""
        params, _ = self.check(body, headers)
        prompt = [int(t) for t in body["prompt"]]
        best = 0
        for old in self.seen:
            n = 0
            for a, b in zip(old, prompt, strict=False):
                if a != b:
                    break
                n += 1
            best = max(best, n)
        bs = self.block_size
        cached = min(best, len(prompt) - 1) // bs * bs
        n_out = int(params.max_tokens)
        if params.min_tokens != n_out or not params.ignore_eos:
            raise ValueError("the driver asks for exactly max_tokens tokens (min_tokens, "
                             "ignore_eos)")
        out = [self.rng.randrange(3, 32000) for _ in range(n_out)]
        self.seen.append(prompt + out)
        self.queries += len(prompt)
        self.hits += cached
        self.requests.append((headers, body, out))
        return {
            "id": f"cmpl-{len(self.requests)}",
            "object": "text_completion",
            "model": body.get("model"),
            "choices": [{"index": 0, "text": "", "token_ids": out, "finish_reason": "length"}],
            "usage": {"prompt_tokens": len(prompt), "completion_tokens": len(out),
                      "total_tokens": len(prompt) + len(out),
                      "prompt_tokens_details": {"cached_tokens": cached}},
        }

    def metrics_text(self) -> str:
        """The two counters the driver scrapes, in Prometheus' text format."""
        return (f'vllm:prefix_cache_queries_total{{engine="0"}} {self.queries}.0\n'
                f'vllm:prefix_cache_hits_total{{engine="0"}} {self.hits}.0\n')

    def app(self) -> Any:
        """The aiohttp application."""
        from aiohttp import web

        async def completions(request: web.Request) -> web.Response:
            body = await request.json()
            try:
                doc = self.complete(body, dict(request.headers))
            except Exception as exc:  # what vLLM would refuse: an HTTP 400 with why
                print(f"stand-in: refused a request: {exc}", file=sys.stderr, flush=True)
                return web.json_response({"error": {"message": str(exc)}}, status=400)
            return web.json_response(doc)

        async def metrics(request: web.Request) -> web.Response:
            return web.Response(text=self.metrics_text())

        async def health(request: web.Request) -> web.Response:
            return web.Response(text="")

        app = web.Application()
        app.router.add_post("/v1/completions", completions)
        app.router.add_get("/metrics", metrics)
        app.router.add_get("/health", health)
        return app


def main(argv: list[str] | None = None) -> int:
    from aiohttp import web

    from sagacore_vllm.plugin import PluginConfig

    args, config = engine_config(list(sys.argv[1:] if argv is None else argv))
    sched = config.scheduler_config
    cls = sched.get_scheduler_cls()
    print(f"stand-in: model {config.model_config.model} "
          f"(max_model_len {config.model_config.max_model_len}, vocabulary "
          f"{config.model_config.get_vocab_size()}), prefix caching "
          f"{config.cache_config.enable_prefix_caching}, KV blocks "
          f"{config.cache_config.num_gpu_blocks_override}, scheduler "
          f"{cls.__module__}.{cls.__qualname__}", flush=True)
    if cls.__module__.startswith("sagacore_vllm"):
        # what the plug-in builds when vLLM constructs it: the settings, the stack's
        # policies priced by the settings' cost model
        from sagacore.stacks import BuildContext, get_stack
        from sagacore.workload.predictor import Predictor

        plugin = PluginConfig.from_additional_config(config.additional_config)
        stack = get_stack(plugin.stack)
        blocks = int(config.cache_config.num_gpu_blocks_override or 1)
        ctx = plugin.build_context(blocks * int(config.cache_config.block_size or 16))
        ctx = BuildContext(ctx.cost, ctx.instances, ctx.kv_capacity_tokens, Predictor())
        built = (type(stack.build_scheduler(ctx)).__name__,
                 type(stack.build_cache(ctx)).__name__)
        print(f"stand-in: plug-in settings {plugin}; stack {stack.name}: scheduler "
              f"{built[0]}, cache policy {built[1]}", flush=True)
    standin = StandIn(block_size=int(config.cache_config.block_size or 16))
    web.run_app(standin.app(), host=args.host or "127.0.0.1", port=int(args.port),
                print=None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

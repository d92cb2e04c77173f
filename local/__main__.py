"""``python -m local`` (what ``make run`` runs): the whole system on http://127.0.0.1:$PORT."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from aiohttp import web


def main() -> None:
    port = int(os.environ.get("PORT", "8000"))
    state_dir = Path(os.environ.get("LOCAL_STATE_DIR", ".local")).resolve()
    from local import stack

    stack.configure_environment(port, state_dir)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from moto import mock_aws

    from chalicelib.platform import metering
    from local import dynamodb_atomic

    metering.install()
    dynamodb_atomic.install()
    mock = mock_aws(config=stack.MOTO_CONFIG)
    mock.start()
    from chalicelib.settings import get_settings
    from local import sfn_adapter
    from local.gateway import chalice_handlers, create_gateway_app

    arns = stack.create_resources()
    os.environ["DELIVERY_STATE_MACHINE_ARN"] = arns["delivery"]
    get_settings.cache_clear()
    app_module = stack.import_app()
    sfn_adapter.install({f.name: f for f in app_module.app.pure_lambda_functions})
    snapshot = state_dir / "snapshot.json"
    restored = stack.load_snapshot(snapshot)

    # API Gateway's idle limit is 10 minutes; tests shorten it to see the heartbeat matter.
    idle_timeout = float(os.environ.get("LOCAL_WS_IDLE_SECONDS", "600"))
    web_app, gateway = create_gateway_app(app_module.app, chalice_handlers(app_module), port,
                                          stack.ROOT / "web", idle_timeout=idle_timeout)

    async def on_startup(_: web.Application) -> None:
        web_app["reaper"] = asyncio.get_running_loop().create_task(gateway.reap(min(30.0, idle_timeout / 4)))
        base = f"http://127.0.0.1:{port}"
        print(f"""
Customer service is running (local stack: moto, API Gateway emulator, Step Functions engine).

  Visitor page    {base}/
  Agent console   {base}/console        sign in as alice / demo (or bob, carol, admin)
  WebSocket API   ws://127.0.0.1:{port}/ws?token=...
  REST API        {base}/api/
  State           {state_dir}  ({restored} items restored)

Ctrl-C stops it and saves the state.
READY {base}""", flush=True)

    async def on_shutdown(_: web.Application) -> None:
        web_app["reaper"].cancel()
        await gateway.close_all()

    web_app.on_startup.append(on_startup)
    web_app.on_shutdown.append(on_shutdown)
    try:
        web.run_app(web_app, host="127.0.0.1", port=port, print=None, handle_signals=True)
    finally:
        saved = stack.save_snapshot(snapshot)
        sfn_adapter.uninstall()
        mock.stop()
        print(f"Stopped; {saved} items saved to {snapshot}", flush=True)


if __name__ == "__main__":
    main()

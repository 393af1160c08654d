"""Executes Jupyter notebooks on the repo-local Deno kernel, headless, keeping every output.

The Deno 2.9.6 kernel can report `status: idle` before a cell's results arrive, so this runner
collects iopub messages by the cell's parent message id and drains the channel until it has been
quiet for a while, instead of stopping at the first idle (which `nbconvert --execute` does).

Usage: /usr/bin/python3 tasks/run_notebooks.py [--timeout S] [--quiet S] [--cwd DIR] NOTEBOOK...
Each notebook is executed in its own folder (or in DIR) and rewritten in place (atomically) with its
outputs.
Exit code 1 on the first cell that errors (its traceback is printed and kept in the notebook).
"""
import argparse
import os
import queue
import sys
import time

import nbformat
from jupyter_client.manager import KernelManager


def run_cell(client, code, timeout, quiet):
    msg_id = client.execute(code, store_history=True, allow_stdin=False)
    outputs, execution_count, error = [], None, None
    deadline = time.monotonic() + timeout
    idle_at = None
    reply = None
    while True:
        now = time.monotonic()
        if now > deadline:
            raise TimeoutError(f"cell did not finish within {timeout} s")
        if reply is None:
            try:
                msg = client.get_shell_msg(timeout=0.01)
                if msg["parent_header"].get("msg_id") == msg_id:
                    reply = msg
            except queue.Empty:
                pass
        try:
            msg = client.get_iopub_msg(timeout=0.05)
        except queue.Empty:
            if idle_at is not None and reply is not None and time.monotonic() - idle_at > quiet:
                break
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "status":
            if content["execution_state"] == "idle":
                idle_at = time.monotonic()
            continue
        idle_at = time.monotonic() if idle_at is not None else None
        if kind == "execute_input":
            execution_count = content.get("execution_count")
        elif kind == "stream":
            if outputs and outputs[-1].get("output_type") == "stream" and outputs[-1]["name"] == content["name"]:
                outputs[-1]["text"] += content["text"]
            else:
                outputs.append(nbformat.v4.new_output("stream", name=content["name"], text=content["text"]))
        elif kind in ("display_data", "execute_result"):
            out = nbformat.v4.new_output(kind, data=content["data"], metadata=content.get("metadata", {}))
            if kind == "execute_result":
                out["execution_count"] = content.get("execution_count")
            outputs.append(out)
        elif kind == "error":
            error = content
            outputs.append(nbformat.v4.new_output("error", ename=content["ename"], evalue=content["evalue"],
                                                  traceback=content["traceback"]))
        elif kind == "clear_output":
            outputs = []
    if reply is not None and reply["content"].get("status") == "error" and error is None:
        error = reply["content"]
    if execution_count is None and reply is not None:
        execution_count = reply["content"].get("execution_count")
    return outputs, execution_count, error


def run_notebook(path, timeout, quiet, cwd=None):
    nb = nbformat.read(path, as_version=4)
    km = KernelManager(kernel_name=nb.metadata.get("kernelspec", {}).get("name", "deno"))
    km.start_kernel(cwd=cwd or os.path.dirname(os.path.abspath(path)))
    client = km.client()
    client.start_channels()
    client.wait_for_ready(timeout=120)
    failed = None
    started = time.monotonic()
    try:
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            cell_start = time.monotonic()
            outputs, count, error = run_cell(client, cell.source, timeout, quiet)
            cell.outputs = outputs
            cell.execution_count = count
            print(f"  cell {index:2d}: {time.monotonic() - cell_start:6.1f} s, {len(outputs)} outputs", flush=True)
            if error is not None:
                failed = (index, error)
                break
    finally:
        client.stop_channels()
        km.shutdown_kernel(now=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    nbformat.write(nb, tmp)
    os.replace(tmp, path)
    return failed, time.monotonic() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--timeout", type=float, default=600, help="seconds per cell")
    parser.add_argument("--quiet", type=float, default=1.0, help="seconds of silence that end a cell")
    parser.add_argument("--cwd", help="run the kernels in this folder instead of each notebook's")
    parser.add_argument("notebooks", nargs="+")
    args = parser.parse_args()
    for path in args.notebooks:
        print(f"{path}:", flush=True)
        failed, seconds = run_notebook(path, args.timeout, args.quiet, args.cwd)
        if failed is not None:
            index, error = failed
            print(f"error in {path}, cell {index}: {error.get('ename')}: {error.get('evalue')}", file=sys.stderr)
            for line in error.get("traceback", []):
                print(line, file=sys.stderr)
            return 1
        print(f"  done in {seconds:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

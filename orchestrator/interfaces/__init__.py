"""The interfaces other programs use: MCP server, LangChain tools and the Gradio web app.

Each is built on the same tool descriptions and the same :class:`~visorch.runtime.Runtime` as the
CLI and the agent; nothing here is imported until it is used.
"""

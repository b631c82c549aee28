"""Plumbline's scanning engine: plain Python, no Django.

Sources turn a target into facts, checks turn facts into issues, grading turns
issues into letter grades, and renderers turn a scan result into JSON, SARIF,
Markdown or terminal text.
"""

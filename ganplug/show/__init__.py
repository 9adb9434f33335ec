"""The show: the performance state and everything that steers it.

- :mod:`.table` — the address table, the registry every other part reads;
- :mod:`.spec` — what one entry is, and the argument check;
- :mod:`.params` / :mod:`.commands` — the getters, setters and handlers the table names;
- :mod:`.show` — :class:`~ganplug.show.show.Show`, the state, applied and captured through the table;
- :mod:`.inbox` — one inbox for every source of control; :mod:`.reply` — one reply path;
- :mod:`.files` and :mod:`.worker` — preset and snapshot files, off the render thread.

Nothing is imported here, so the instrument and the OSC layer can import the parts they need.
"""

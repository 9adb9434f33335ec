"""Ways frames leave ganplug besides OSC: shared memory (``shm``) and NDI (``ndi``).

Each sink has ``name``, ``send_frame(frame_id, pixels, budget)`` and ``close()``
(the FrameSink interface of ``ganplug.runtime.sinks``).
"""

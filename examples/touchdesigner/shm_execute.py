# Execute DAT (Frame Start on): cook the Script TOP `shm_frames` once per TouchDesigner frame,
# so it picks up the newest frame in shared memory (it copies only when a new one is there).


def onFrameStart(frame):
    op('shm_frames').cook(force=True)
    return

# Callbacks DAT of a Script TOP `shm_frames` that shows the frames of `ganplug serve --shm ganplug`
# through shared memory: no network, no chunks, any size at full rate, on every TouchDesigner
# licence. Needs a Text DAT `ganplug_shm` holding examples/python/shm_reader.py (numpy and the
# standard library only), and something that cooks this TOP every frame: the Execute DAT
# shm_execute.py does.

SHM_NAME = 'ganplug'  # the NAME given to --shm


def onSetupParameters(scriptOp):
    return


def onCook(scriptOp):
    # One reader per Script TOP, kept in its storage so it survives between cooks.
    reader = scriptOp.fetch('ganplug_shm_reader', None, search=False)
    if reader is None:
        reader = op('ganplug_shm').module.ShmReader(SHM_NAME)
        scriptOp.store('ganplug_shm_reader', reader)
    frame = reader.read()
    if frame is None:
        return  # no new frame: the TOP keeps showing the last one
    frame_id, pixels = frame
    # ganplug's rows start at the top, TouchDesigner's textures at the bottom; copyNumpyArray
    # takes H x W x 4 uint8 (RGBA).
    h, w, c = pixels.shape
    rgba = op('ganplug_shm').module.np.empty((h, w, 4), 'uint8')
    rgba[..., :3] = pixels[::-1, :, :3] if c >= 3 else pixels[::-1, :, :1]
    rgba[..., 3] = pixels[::-1, :, 3] if c == 4 else 255
    scriptOp.copyNumpyArray(rgba)
    return


def onPulse(par):
    return

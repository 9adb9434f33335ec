# Callbacks DAT of the OSC In DAT that listens on port 9001 (ganplug's frames and state).
# The reassembly lives in the Text DAT `ganplug_td` (ganplug_td.py); this only hands it
# each message and asks the Script TOP `frames` to cook when a frame is complete.


def onReceiveOSC(dat, rowIndex, message, byteData, timeStamp, address, args, peer):
    # Looked up on every call, so editing ganplug_td takes effect without a restart.
    receiver = op('ganplug_td').module.receiver
    # byteData is the whole OSC message as it arrived (older templates call it `bytes`);
    # ganplug_td parses it itself, so blobs never depend on how `args` presents them.
    if receiver.on_bytes(byteData):
        # The Script TOP only cooks when asked; a finished frame is the reason to.
        op('frames').cook(force=True)
    return

# Callbacks DAT of the OSC In DAT that listens on port 9001 (ganplug's frames and state).
# The reassembly lives in the Text DAT `ganplug_td` (ganplug_td.py); this only hands it
# each message and asks the Script TOP `frames` to cook when a frame is complete.


def onReceiveOSC(dat, rowIndex, message, bytes, timeStamp, address, args, peer):
    # Looked up on every call, so editing ganplug_td takes effect without a restart.
    receiver = op('ganplug_td').module.receiver
    # Blobs arrive as Python bytes and ints as int: what the receiver takes as they are.
    if receiver.on_osc(address, args):
        # The Script TOP only cooks when asked; a finished frame is the reason to.
        op('frames').cook(force=True)
    return

# Callbacks DAT of the Script TOP `frames`: shows the newest ganplug frame.
# copyNumpyArray takes an H x W x 4 uint8 RGBA array whose first row is the bottom
# one; ganplug_td has already flipped the rows and added alpha.


def onSetupParameters(scriptOp):
    return


def onCook(scriptOp):
    image = op('ganplug_td').module.receiver.image
    if image is not None:
        scriptOp.copyNumpyArray(image)
    return


def onPulse(par):
    return

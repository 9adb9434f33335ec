# CHOP Execute DAT: any CHOP drives ganplug. Name its channels like the panel's
# parameters (speed, truncation, seed, ...) or z0, z1, ... for single latent components
# (/ganplug/z/N), point the DAT's CHOP parameter at it and turn on Value Change.


def onValueChange(channel, sampleIndex, val, prev):
    message = op('ganplug_controls').module.message_for_channel(channel.name, val)
    if message is not None:
        op('oscout_ganplug').sendOSC(message[0], message[1], asBundle=False)
    return

# Parameter Execute DAT watching the custom parameters of the panel COMP (`ganplug_panel`):
# set its OPs parameter to the panel, Parameters to *, and turn on Value Change and On Pulse.
# Every change goes out through the OSC Out DAT `oscout_ganplug` (127.0.0.1, port 9000).


def _send(message):
    if message is not None:
        address, args = message
        # One plain message each: the OSC Out DAT would otherwise wrap it in a bundle.
        op('oscout_ganplug').sendOSC(address, args, asBundle=False)


def onValueChange(par, prev):
    _send(op('ganplug_controls').module.message_for_parameter(par.name, par.eval()))
    return


def onPulse(par):
    values = {p.name: p.eval() for p in par.owner.customPars}
    _send(op('ganplug_controls').module.message_for_pulse(par.name, values))
    return

"""The event-routed EGRU core, as a package of components (docs/datapath.md has the diagram):

* ``route.EventIssuer``: which event of the layer's event lists the route reads next;
* ``walker.ColumnWalker``: the descriptor queue and the walk along a column's lane lists;
* ``mac.MacLane``: one lane's three multipliers and accumulator banks;
* ``update.UpdateLane``: one lane's update unit (gates, state, threshold, event);
* ``readout.Readout``: the logits and the class, from the event sums, on the core's memories;
* ``core.EGRUCore``: the model memories, the rest of the route front-end (event word, column
  pointer, descriptor), the update phase and the control FSM that sequences them.
"""

from hw.core.core import C_READOUT, C_STEP, EGRUCore
from hw.core.readout import R_CLASS, R_LOGIT, Readout
from hw.core.route import EventIssuer

__all__ = ["C_READOUT", "C_STEP", "R_CLASS", "R_LOGIT", "EGRUCore", "EventIssuer", "Readout"]

"""The batched face of Meta-World classes: one class's worlds in one ``mujoco.batch`` or MuJoCo Warp batch.

``vector.MetaWorldVectorEnv`` is the ``TaskVectorEnv`` (torch tensors end to end); it runs the
class's own model (from Farama's env, through ``compat``) and replays, in torch over all
worlds, what Farama's Python does around the physics: mocap actuation, the 39-number
observation, reward v2, success and the other ``info`` entries, and the reset (``mj_resetData``,
the bodies the task moves, the hand settling for 50 control steps, the objects placed).
On the ``mujoco`` backend a world equals Farama's env step for step (float64, the same physics
calls; observations and rewards to ~1e-15); on ``warp`` (float32) one step from a synchronised
state agrees to float32 and contact-solver tolerances.

Modules: ``sawyer`` (the arm: ids, frame, mocap step, quaternions, the ``SawyerClass`` base and
the ``SimView`` a class reads), ``rewards`` (``tolerance``, ``hamacher_product``, the gripper
caging reward), ``mixed`` (NumPy's float32 contagion in Farama's rewards), ``kinematics`` (the
poses Farama's ``mj_forward`` computes after a step, in torch), ``sim`` (the two backends),
``vector`` (the env of one class), ``benchmark_vector`` (the env of a multi-class benchmark: one
batch per class), ``contacts`` (the pads' contact sensors, for stick-push's success), ``puck``
(the free object of reach/push/pick-place and others), the shared bases of kindred classes
(``button``, ``door``, ``drawer``, ``window``, ``handles``, ``faucet``, ``plate``, ``coffee``,
``assembly``, ``stick``), one module per class.

Adding a class (recipe; read the class's Farama source ``metaworld/envs/sawyer_<name>_v3.py``):

1. Create ``<name>.py`` with a ``SawyerClass`` subclass (``PuckClass`` when the class's object
   is the free body ``obj`` with geom ``objGeom`` at ``qpos[9:16]``). Set ``name``
   (``"window-open-v3"``), ``rand_vec_size`` (the size of ``_random_reset_space``) and
   ``info_keys``. Where ``success`` uses ``touching_main_object`` set ``contact_object`` (the geom
   of ``_get_id_main_object``) and call ``self.touching(s)``: the env adds contact sensors and a
   forward pass per step (a quarter of the throughput), so ``grasp_success`` alone (an entry no
   agent reads) is dropped from ``info_keys`` instead. In ``__init__`` look up ids with ``self.body_id``,
   ``self.geom_id``, ``self.site_id`` (these also ask the kinematics for those frames, the only
   ones computed: reading another is a ``KeyError``), ``self.joint_qpos``/``joint_dof``; read
   constants from the Farama ``env`` given (``env.TARGET_RADIUS``, ``env.maxDist``...) rather
   than copying numbers it holds.
2. ``place``: if ``reset_model`` writes model fields (``self.model.body("x").pos = ...``),
   write them per world (``s.body_pos[ids, body] = ...``, live per-world values) and list the
   field in ``model_fields``. Sites are visual only (the goal site is not moved per world).
3. ``reset``: the part of ``reset_model`` after ``_reset_hand``: object qpos/qvel of worlds
   ``ids`` (``s.qpos[ids, ...] = ...``), then ``s.forward(ids)`` (``set_state``); values Farama
   reads right after the hand settled are in ``settled`` (``init_tcp``, ``left_pad``,
   ``right_pad``, ``xpos``). Return the episode constants the reward needs, named as Farama's
   attributes (``target_pos`` for ``_target_pos``, required; ``obj_init_pos``, ``init_tcp``...):
   the tests read the same names from the Farama env. Mind Farama's aliasing: ``get_body_com``
   returns a live view of MjData (pick-place's ``init_left_pad`` is the pad *now*), and
   ``_get_state_rand_vec`` returns the task's own array.
4. ``objects``: ``_get_pos_objects`` and ``_get_quat_objects`` interleaved per object,
   ``(n, 7k)`` (``sawyer.object_pose``; ``quat_from_matrix`` for a geom's ``xmat``, in SciPy's
   ``(x, y, z, w)`` convention and sign).
5. ``evaluate``: ``evaluate_state`` and ``compute_reward`` (v2) for all worlds: ``if``s become
   ``torch.where``/``mixed.select``. Where a NumPy float32 from the action enters
   (``min(max(0, action[-1]), 1)``: ``rewards.gripper_closed``) NumPy computes in float32 from
   there on; ``mixed.Mixed`` follows it per world, and ``mixed.value`` gives the tensor back.
   Return the reward and ``info`` (``info_keys``).
6. Register it in ``CLASSES`` below and add nothing else: ``tests/envs/test_metaworld_batched.py``
   runs every registered class against Farama's env (observations, rewards and info from the
   same states; random and expert trajectories step for step; the expert succeeds; ``warp``
   one step from synchronised states). If the expert fails a task there, pick others in ``TASKS``.
"""

from __future__ import annotations

import importlib

#: Meta-World class -> ``module:attribute`` of its batched definition (in this package).
CLASSES: dict[str, str] = {
    "reach-v3": "reach:Reach",
    "push-v3": "push:Push",
    "pick-place-v3": "pick_place:PickPlace",
    "door-open-v3": "door_open:DoorOpen",
    "drawer-close-v3": "drawer_close:DrawerClose",
    "drawer-open-v3": "drawer_open:DrawerOpen",
    "door-close-v3": "door_close:DoorClose",
    "shelf-place-v3": "shelf_place:ShelfPlace",
    "sweep-into-v3": "sweep_into:SweepInto",
    "lever-pull-v3": "lever_pull:LeverPull",
    "button-press-topdown-v3": "button_press_topdown:ButtonPressTopdown",
    "peg-insert-side-v3": "peg_insert_side:PegInsertSide",
    "window-open-v3": "window_open:WindowOpen",
    "sweep-v3": "sweep:Sweep",
    "basketball-v3": "basketball:Basketball",
    "plate-slide-v3": "plate_slide:PlateSlide",
    "plate-slide-side-v3": "plate_slide_side:PlateSlideSide",
    "plate-slide-back-v3": "plate_slide_back:PlateSlideBack",
    "plate-slide-back-side-v3": "plate_slide_back_side:PlateSlideBackSide",
    "push-wall-v3": "push_wall:PushWall",
    "push-back-v3": "push_back:PushBack",
    "reach-wall-v3": "reach_wall:ReachWall",
    "dial-turn-v3": "dial_turn:DialTurn",
    "door-lock-v3": "door_lock:DoorLock",
    "door-unlock-v3": "door_unlock:DoorUnlock",
    "faucet-open-v3": "faucet_open:FaucetOpen",
    "faucet-close-v3": "faucet_close:FaucetClose",
    "window-close-v3": "window_close:WindowClose",
    "button-press-v3": "button_press:ButtonPress",
    "button-press-wall-v3": "button_press_wall:ButtonPressWall",
    "button-press-topdown-wall-v3": "button_press_topdown_wall:ButtonPressTopdownWall",
    "coffee-button-v3": "coffee_button:CoffeeButton",
    "handle-press-v3": "handle_press:HandlePress",
    "handle-press-side-v3": "handle_press_side:HandlePressSide",
    "handle-pull-v3": "handle_pull:HandlePull",
    "handle-pull-side-v3": "handle_pull_side:HandlePullSide",
    "pick-place-wall-v3": "pick_place_wall:PickPlaceWall",
    "pick-out-of-hole-v3": "pick_out_of_hole:PickOutOfHole",
    "bin-picking-v3": "bin_picking:BinPicking",
    "hand-insert-v3": "hand_insert:HandInsert",
    "coffee-push-v3": "coffee_push:CoffeePush",
    "coffee-pull-v3": "coffee_pull:CoffeePull",
    "soccer-v3": "soccer:Soccer",
    "assembly-v3": "assembly:Assembly",
    "disassemble-v3": "disassemble:Disassemble",
    "box-close-v3": "box_close:BoxClose",
    "hammer-v3": "hammer:Hammer",
    "stick-pull-v3": "stick_pull:StickPull",
    "stick-push-v3": "stick_push:StickPush",
    "peg-unplug-side-v3": "peg_unplug_side:PegUnplugSide",
}


def definition_class(name: str) -> type:
    """The batched definition (``sawyer.SawyerClass`` subclass) of Meta-World class ``name``."""
    if name not in CLASSES:
        raise ValueError(f"{name!r} is not a Meta-World class; allowed: {sorted(CLASSES)}")
    module, attr = CLASSES[name].split(":")
    return getattr(importlib.import_module(f"{__name__}.{module}"), attr)


def batched_classes() -> tuple[str, ...]:
    """The Meta-World classes with a batched face."""
    return tuple(CLASSES)

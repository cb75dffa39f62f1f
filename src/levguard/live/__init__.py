"""The live guardian: monitor loop, actions and the crash-safe store (:mod:`levguard.live.store`)."""

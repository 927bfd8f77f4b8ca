"""Every key of the Policy Summary, Failures and policy screens (test_ui_keys.KEY_GROUPS says why
the screens are split over three modules)."""

import test_ui_app
from test_ui_keys import key_test

demo_template = test_ui_app.demo_template
demo_store = test_ui_app.demo_store
test_every_key_of_the_screen = key_test("summaries")

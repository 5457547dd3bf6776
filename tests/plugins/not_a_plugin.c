int hb_not_a_plugin(void) { return 42; }

// HairpinLink: hairpin's TMInterface 2 plugin. It makes Trackmania Nations Forever a TCP server that hairpin
// (src/hairpin/game/client.py) drives one sync at a time, with the message ids, payloads and waits of the
// Python_Link protocol that Linesight and rulka use (hairpin's protocol notes: TMINTERFACE.md §1-§3).
//
// Install: copy this file into Documents/TMInterface/Plugins/ (under Wine: the Documents folder of the Wine
// prefix), or let hairpin copy it there (game.launch.install_plugin_to). Start the game through TMLoader with
// /configstring="set custom_port 8478" (hairpin's launcher does this, one port per collector).
//
// UNTESTED AGAINST THE GAME: this file was written from the protocol description and has never run. hairpin's
// tests check its message ids against the Python side, and run the client against hairpin's emulator, which
// follows the same description. The TMInterface 2 API calls are those other public TMInterface 2 plugins make;
// please report what fails on a real game.
//
// How it works: the game calls OnRunStep / OnCheckpointCountChanged / OnLapCountChanged / Render; each of them
// sends one message (a "sync") and then blocks the game inside Wait until hairpin sends the same id back.
// Only inside Wait does the plugin read the socket: the commands hairpin sends there run at once, and queries
// are answered straight away. A wait that sees no byte for longer than the response timeout drops the client
// and lets the game go on.
//
// Where it differs from the reference plugin on purpose (a client of either cannot tell): custom_port defaults to
// 8478 instead of 0; an answer with id 3 (lap sync) is not logged as unknown; a wait reads a message only once its
// 4-byte id has fully arrived.

// Message ids, 1-based, in the protocol's order.
const int SC_RUN_STEP_SYNC = 1;
const int SC_CHECKPOINT_COUNT_CHANGED_SYNC = 2;
const int SC_LAP_COUNT_CHANGED_SYNC = 3;
const int SC_REQUESTED_FRAME_SYNC = 4;
const int SC_ON_CONNECT_SYNC = 5;
const int C_SET_SPEED = 6;
const int C_REWIND_TO_STATE = 7;
const int C_REWIND_TO_CURRENT_STATE = 8;
const int C_GET_SIMULATION_STATE = 9;
const int C_SET_INPUT_STATE = 10;
const int C_GIVE_UP = 11;
const int C_PREVENT_SIMULATION_FINISH = 12;
const int C_SHUTDOWN = 13;
const int C_EXECUTE_COMMAND = 14;
const int C_SET_TIMEOUT = 15;
const int C_RACE_FINISHED = 16;
const int C_REQUEST_FRAME = 17;
const int C_RESET_CAMERA = 18;
const int C_SET_ON_STEP_PERIOD = 19;
const int C_UNREQUEST_FRAME = 20;
const int C_TOGGLE_INTERFACE = 21;
const int C_IS_IN_MENUS = 22;
const int C_GET_INPUTS = 23;

const uint DEFAULT_RESPONSE_TIMEOUT_MS = 2000;

Net::Socket@ listener = null;
Net::Socket@ client = null;
uint responseTimeoutMs = DEFAULT_RESPONSE_TIMEOUT_MS;
int onStepPeriodMs = 10;
bool connectPending = false;  // accepted during start-up: greet once the menus are up
bool frameRequested = false;
int frameWidth = 0;
int frameHeight = 0;

PluginInfo@ GetPluginInfo()
{
    PluginInfo@ info = PluginInfo();
    info.Name = "HairpinLink";
    info.Author = "hairpin";
    info.Version = "1.0";
    info.Description = "Lets hairpin drive the game over TCP (Python_Link protocol) on the port custom_port";
    return info;
}

void Main()
{
    RegisterVariable("custom_port", 8478.0);  // hairpin's base port when the launch sets none
    // The launch configstring is applied after Main: a queued command runs after it, so the port is read then.
    RegisterCustomCommand("hairpin_link_listen", "Listen on custom_port for hairpin", OnListenCommand);
    CommandList queued;
    queued.Content = "hairpin_link_listen";
    queued.Process(CommandListProcessOption::QueueAndExecute);
}

void OnListenCommand(int fromTime, int toTime, const string&in commandLine, const array<string>&in args)
{
    if (listener !is null) return;  // the port is read once
    uint16 port = uint16(GetVariableDouble("custom_port"));
    @listener = Net::Socket();
    if (!listener.Listen("127.0.0.1", port)) {
        log("HairpinLink: cannot listen on port " + port, Severity::Error);
        @listener = null;
        return;
    }
    log("HairpinLink: listening on 127.0.0.1:" + port);
}

void OnDisabled()
{
    DropClient("plugin disabled");
    @listener = null;
}

void DropClient(const string&in why)
{
    if (client !is null) log("HairpinLink: client dropped (" + why + ")");
    @client = null;
    frameRequested = false;
    connectPending = false;
    responseTimeoutMs = DEFAULT_RESPONSE_TIMEOUT_MS;
}

bool InRace()
{
    return GetCurrentGameState() == TM::GameState::LocalRace;
}

// -- syncs -------------------------------------------------------------------------------------------------

void Render()
{
    if (listener !is null) {
        Net::Socket@ accepted = listener.Accept(0);
        if (accepted !is null) {  // a new client replaces the old one
            @client = accepted;
            client.NoDelay = true;
            frameRequested = false;
            if (GetCurrentGameState() == TM::GameState::StartUp) connectPending = true;
            else SendOnConnect();
        }
    }
    if (client !is null && frameRequested) {
        frameRequested = false;  // one frame per request
        array<uint8>@ pixels = Graphics::CaptureScreenshot(vec2(float(frameWidth), float(frameHeight)));
        if (pixels !is null && Send(SC_REQUESTED_FRAME_SYNC) && SendBytes(pixels)) Wait(SC_REQUESTED_FRAME_SYNC);
    }
}

void OnGameStateChanged(TM::GameState state)
{
    if (state == TM::GameState::Menus && connectPending) SendOnConnect();
}

void SendOnConnect()
{
    connectPending = false;
    if (Send(SC_ON_CONNECT_SYNC)) Wait(SC_ON_CONNECT_SYNC);
}

void OnRunStep(SimulationManager@ simManager)
{
    if (client is null) return;
    int raceTime = simManager.RaceTime;
    // every period, and every tick once the race is over (the engine's tick time runs past the race time)
    if (raceTime % onStepPeriodMs != 0 && simManager.TickTime <= raceTime) return;
    if (Send(SC_RUN_STEP_SYNC) && SendInt(raceTime)) Wait(SC_RUN_STEP_SYNC);
}

void OnCheckpointCountChanged(SimulationManager@ simManager, int current, int target)
{
    if (client is null) return;
    if (Send(SC_CHECKPOINT_COUNT_CHANGED_SYNC) && SendInt(current) && SendInt(target)) {
        Wait(SC_CHECKPOINT_COUNT_CHANGED_SYNC);
    }
}

void OnLapCountChanged(SimulationManager@ simManager, int current, int target)
{
    if (client is null) return;
    if (Send(SC_LAP_COUNT_CHANGED_SYNC) && SendInt(current) && SendInt(target)) Wait(SC_LAP_COUNT_CHANGED_SYNC);
}

// Block the game until the client answers `awaited` (or shuts down), running its commands meanwhile. The
// timeout counts from the start of the wait, not from the last message.
void Wait(int awaited)
{
    uint64 start = Time::Now;
    while (client !is null) {
        if (client.Available < 4) {
            if (Time::Now - start > responseTimeoutMs) {
                DropClient("no answer within " + responseTimeoutMs + " ms");
                return;
            }
            continue;
        }
        int id = HandleMessage();
        if (id == awaited || id == C_SHUTDOWN) return;
    }
}

// -- commands -----------------------------------------------------------------------------------------------

int HandleMessage()
{
    SimulationManager@ sim = GetSimulationManager();
    int id = client.ReadInt32();
    switch (id) {
        case SC_RUN_STEP_SYNC:
        case SC_CHECKPOINT_COUNT_CHANGED_SYNC:
        case SC_LAP_COUNT_CHANGED_SYNC:
        case SC_REQUESTED_FRAME_SYNC:
        case SC_ON_CONNECT_SYNC:
            break;  // an answer: Wait decides whether it is the awaited one
        case C_SET_SPEED:
            sim.SetSpeed(client.ReadFloat());
            break;
        case C_REWIND_TO_STATE: {
            int n = client.ReadInt32();
            array<uint8>@ data = client.ReadBytes(n);
            if (InRace()) sim.RewindToState(SimulationState(data));
            break;
        }
        case C_REWIND_TO_CURRENT_STATE:
            if (InRace()) sim.RewindToState(sim.SaveState());
            break;
        case C_GET_SIMULATION_STATE: {  // no race guard, as the protocol has it: in menus the state is short
            array<uint8>@ data = sim.SaveState().ToArray();
            if (SendInt(int(data.Length))) SendBytes(data);
            break;
        }
        case C_SET_INPUT_STATE: {
            uint8 left = client.ReadUint8();
            uint8 right = client.ReadUint8();
            uint8 accelerate = client.ReadUint8();
            uint8 brake = client.ReadUint8();
            if (InRace()) {
                sim.SetInputState(InputType::Left, left);
                sim.SetInputState(InputType::Right, right);
                sim.SetInputState(InputType::Up, accelerate);
                sim.SetInputState(InputType::Down, brake);
            }
            break;
        }
        case C_GIVE_UP:
            if (InRace()) sim.GiveUp();
            break;
        case C_PREVENT_SIMULATION_FINISH:
            if (InRace()) sim.PreventSimulationFinish();
            break;
        case C_SHUTDOWN:
            DropClient("shutdown");  // the listener stays: the next client is accepted as usual
            break;
        case C_EXECUTE_COMMAND: {
            int length = client.ReadInt32();  // the client sends a character count: ASCII commands only
            ExecuteCommand(client.ReadString(length));
            break;
        }
        case C_SET_TIMEOUT:
            responseTimeoutMs = client.ReadUint32();
            break;
        case C_RACE_FINISHED:
            SendInt(sim.PlayerInfo.RaceFinished || sim.TickTime > sim.RaceTime ? 1 : 0);
            break;
        case C_REQUEST_FRAME:
            frameWidth = client.ReadInt32();
            frameHeight = client.ReadInt32();
            frameRequested = true;
            break;
        case C_RESET_CAMERA:
            sim.ResetCamera();
            break;
        case C_SET_ON_STEP_PERIOD:
            onStepPeriodMs = client.ReadInt32();
            break;
        case C_UNREQUEST_FRAME:
            frameRequested = false;
            break;
        case C_TOGGLE_INTERFACE:
            ToggleRaceInterface(client.ReadInt32() > 0);
            break;
        case C_IS_IN_MENUS:
            SendInt(GetCurrentGameState() == TM::GameState::Menus ? 1 : 0);
            break;
        case C_GET_INPUTS: {
            string text = sim.InputEvents.ToCommandsText();
            if (SendInt(int(text.Length))) SendText(text);
            break;
        }
        default:  // no payload is skipped: a client that sends an unknown id has lost the stream anyway
            log("HairpinLink: unknown message " + id, Severity::Warning);
            break;
    }
    return id;
}

// -- writing (a failed write drops the client) ---------------------------------------------------------------

bool Send(int id)
{
    return SendInt(id);
}

bool SendInt(int value)
{
    if (client is null) return false;
    if (!client.Write(value)) { DropClient("write failed"); return false; }
    return true;
}

bool SendBytes(array<uint8>@ data)
{
    if (client is null) return false;
    if (!client.Write(data)) { DropClient("write failed"); return false; }
    return true;
}

bool SendText(const string&in text)
{
    if (client is null) return false;
    if (!client.Write(text)) { DropClient("write failed"); return false; }
    return true;
}
